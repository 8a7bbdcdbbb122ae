"""The policy's evaluation: corral's own checks, decisions kept only when they depend on
the token and the target alone, system scope refused by every rule."""

from __future__ import annotations

import pytest

from corral.services.policy import Policy
from corral.services.policy_rules import ALL_RULES

PA = {"user_id": "u", "project_id": "dept-a", "roles": ["project-admin"]}


def test_a_subtree_decision_follows_the_tree_every_time() -> None:
    tree = {"team-a1": "dept-a"}
    policy = Policy(enforce_new_defaults=True,
                    subtree=lambda scope, project: tree.get(project) == scope)
    target = {"project_id": "team-a1"}
    assert policy.allows("corral:projects:update", PA, target)
    tree["team-a1"] = "dept-b"  # moved away: the next answer says so
    assert not policy.allows("corral:projects:update", PA, target)


def test_a_decision_of_the_token_and_target_alone_is_kept() -> None:
    asked: list[str] = []

    def subtree(scope: str, project: str) -> bool:
        asked.append(project)
        return False

    policy = Policy(enforce_new_defaults=True, subtree=subtree)
    member = {"user_id": "u", "project_id": "p1", "roles": ["member"]}
    for _ in range(3):
        assert policy.allows("corral:instances:create", member, {"project_id": "p1"})
    assert asked == []
    assert policy.allows("corral:instances:create", {**member, "roles": ["reader"]},
                         {"project_id": "p1"}) is False


@pytest.mark.parametrize("rule", [r.name for r in ALL_RULES])
def test_a_system_scoped_token_passes_no_rule(rule: str) -> None:
    policy = Policy(enforce_new_defaults=False, subtree=lambda scope, project: True)
    creds = {"user_id": "u", "roles": ["admin", "service", "metrics_reader"],
             "system_scope": "all"}
    assert policy.allows(rule, creds, {"project_id": "p"}) is False


def test_an_unknown_rule_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        Policy(enforce_new_defaults=True).allows("corral:nothing", PA, {})
