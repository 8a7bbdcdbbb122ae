"""The policy: every rule's effective check, an operator's ``policy.yaml`` applied once.

Rules and their defaults live in services/policy_rules.py. The check-string grammar
(``role:admin or (role:member and project_id:%(project_id)s)``) is oslo.policy's, the
one every OpenStack operator writes; corral adds two checks to it:

- ``subtree:%(project_id)s``: the caller's project is the target project or one of its
  ancestors (a project admin's reach; the tree is read through ``subtree``);
- ``project_role:%(project_id)s``: the caller holds any role in the target project.

A policy is built once per process (``create_app``, ``corral policy list``): the file
is read, every name checked against the registry and every check string parsed at
start, so a typo is a :class:`PolicyError` naming the rule before anything listens,
never a refusal at request time. The enforcer then only evaluates parsed trees (no
file stat, no reparse per request). Credentials are a plain mapping: ``user_id``,
``project_id``, ``roles`` (a list) and ``system_scope``. Every rule is project-scoped:
a system-scoped token is refused by all of them, as Placement's defaults refuse it.
"""

from __future__ import annotations

import ast
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oslo_policy import policy as oslo

from corral.config import Settings
from corral.services.policy_rules import ALL_RULES, Rule

#: ``subtree(ancestor, project)``: whether ``ancestor`` is ``project`` or above it.
SubtreeLookup = Callable[[str, str], bool]

_NAMES = frozenset(r.name for r in ALL_RULES)
#: What a caller's credentials hold: ``project_id:%(project_id)s`` compares one of them.
CREDENTIALS = frozenset({"user_id", "project_id", "roles", "system_scope"})
#: Decisions kept per process (cleared when full; a decision is a few microseconds).
_CACHED = 4096


class PolicyError(ValueError):
    """The policy file cannot be used: unreadable, not YAML, an unknown rule name or a
    check string that does not parse. The message names the file and the rule."""


@dataclass(frozen=True, slots=True)
class RuleView:
    """A rule as ``corral policy list`` shows it."""

    name: str
    default: str
    effective: str
    overridden: bool
    description: str

    def record(self) -> dict[str, Any]:
        """The row ``corral policy list`` prints and ``GET /v1/policy`` answers."""
        return {"name": self.name, "default": self.default, "effective": self.effective,
                "overridden": self.overridden, "description": self.description}


def _project_of(match: str, target: Any) -> str | None:
    """The project a check's ``%(project_id)s`` names in ``target`` (None: none)."""
    try:
        return str(match % target)
    except (KeyError, TypeError):
        return None


@oslo.register("subtree")
class SubtreeCheck(oslo.Check):
    """``subtree:%(project_id)s``: the caller's project is that project or an ancestor."""

    def __call__(self, target: Any, creds: Any, enforcer: Any,
                 current_rule: str | None = None) -> bool:
        project = _project_of(self.match, target)
        if project is None:
            return False
        caller = creds.get("project_id")
        lookup = getattr(enforcer, "subtree_lookup", None)
        if isinstance(enforcer, Policy):
            enforcer.evaluating.read_tree = True  # this answer depends on the tree: not kept
        if not caller or not project or project == "None" or lookup is None:
            return False
        return project == caller or bool(lookup(caller, project))


@oslo.register("project_role")
class ProjectRoleCheck(oslo.Check):
    """``project_role:%(project_id)s``: any role in that very project."""

    def __call__(self, target: Any, creds: Any, enforcer: Any,
                 current_rule: str | None = None) -> bool:
        project = _project_of(self.match, target)
        return (project is not None and bool(creds.get("roles"))
                and creds.get("project_id") == project)


def _parsed(name: str, check: str, where: str) -> Any:
    """``check`` parsed; a check string oslo.policy cannot parse (it would log a
    traceback and deny with ``!``), an unknown kind of check (``rol:admin``, which it
    would compare with a credential that never exists) or an unknown rule is refused."""
    parser_log = logging.getLogger("oslo_policy._parser")
    was, parser_log.disabled = parser_log.disabled, True
    try:
        parsed = oslo.RuleDefault(name, check).check
    finally:
        parser_log.disabled = was
    if str(parsed) == "!" and check.strip() != "!":
        raise PolicyError(f"{where}: the rule {name!r} has a check string that does not "
                          f"parse: {check!r}")
    for leaf in _leaves(parsed):
        kind = getattr(leaf, "kind", None)
        if isinstance(leaf, oslo.RuleCheck) and leaf.match not in _NAMES:
            raise PolicyError(f"{where}: the rule {name!r} refers to an unknown rule "
                              f"{leaf.match!r}")
        if type(leaf).__name__ == "GenericCheck" and kind not in CREDENTIALS \
                and not _literal(str(kind)):
            raise PolicyError(f"{where}: the rule {name!r} checks {kind!r}, which is "
                              f"neither a check (role, rule, subtree, project_role) nor a "
                              f"credential ({', '.join(sorted(CREDENTIALS))})")
    return parsed


def _leaves(check: Any) -> list[Any]:
    if isinstance(check, oslo.AndCheck | oslo.OrCheck):
        return [leaf for c in check.rules for leaf in _leaves(c)]
    if isinstance(check, oslo.NotCheck):
        return _leaves(check.rule)
    return [check]


def _literal(kind: str) -> bool:
    try:
        ast.literal_eval(kind)
    except (ValueError, SyntaxError):
        return False
    return True


def read_overrides(path: str) -> dict[str, str]:
    """The rules a policy file sets, each name known and each check string parsed.

    Raises:
        PolicyError: the file is missing or unreadable, is not a YAML mapping of
            names to strings, names an unknown rule, or holds a check that does not parse.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy_file {path}: cannot be read ({exc})") from exc
    try:
        found = oslo.parse_file_contents(text)
    except ValueError as exc:
        raise PolicyError(f"policy_file {path}: not YAML ({exc})") from exc
    if not isinstance(found, dict):
        raise PolicyError(f"policy_file {path}: must map rule names to check strings")
    for name, check in found.items():
        if name not in _NAMES:
            raise PolicyError(f"policy_file {path}: unknown rule {name!r} ('corral policy "
                              "list' names every rule)")
        if not isinstance(check, str):
            raise PolicyError(f"policy_file {path}: the rule {name!r} must be a check "
                              f"string, not {type(check).__name__}")
        _parsed(name, check, f"policy_file {path}")
    return {str(k): str(v) for k, v in found.items()}


def _effective(rule: Rule, overrides: Mapping[str, str], new_defaults: bool) -> str:
    if rule.name in overrides:
        return overrides[rule.name]
    if rule.legacy is not None and not new_defaults:
        return f"({rule.default}) or ({rule.legacy})"
    return rule.default


def _evaluate(check: Any, target: Mapping[str, Any], creds: Mapping[str, Any],
              policy: Policy) -> bool:
    """``check`` on ``target`` and ``creds``: the composites walked here, each leaf asked
    directly (oslo.policy's own walk inspects every node's signature on every call,
    about 80 us a node; this costs a few microseconds a rule)."""
    if isinstance(check, oslo.OrCheck):
        return any(_evaluate(c, target, creds, policy) for c in check.rules)
    if isinstance(check, oslo.AndCheck):
        return all(_evaluate(c, target, creds, policy) for c in check.rules)
    if isinstance(check, oslo.NotCheck):
        return not _evaluate(check.rule, target, creds, policy)
    if isinstance(check, oslo.RuleCheck):
        named = policy.checks.get(check.match)
        return named is not None and _evaluate(named, target, creds, policy)
    return bool(check(target, creds, policy))


class Policy:
    """The effective rules of one process, and their evaluation."""

    def __init__(self, *, enforce_new_defaults: bool, policy_file: str | None = None,
                 subtree: SubtreeLookup | None = None) -> None:
        self.policy_file = policy_file or None
        overrides = read_overrides(policy_file) if policy_file else {}
        self._views = [RuleView(r.name, r.default, _effective(r, overrides, enforce_new_defaults),
                                r.name in overrides, r.description) for r in ALL_RULES]
        self.subtree_lookup = subtree
        # Per thread: whether the decision being made read the tree (never kept then).
        self.evaluating = threading.local()
        self._decided: dict[tuple[Any, ...], bool] = {}
        self.checks: dict[str, Any] = {v.name: _parsed(v.name, v.effective, "policy")
                                       for v in self._views}

    def rules(self) -> list[RuleView]:
        """Every rule with its default and effective check string, in registry order."""
        return list(self._views)

    def allows(self, rule: str, creds: Mapping[str, Any],
               target: Mapping[str, Any] | None = None) -> bool:
        """Whether ``creds`` pass ``rule`` on ``target``; a system-scoped caller never
        does (every rule is project-scoped).

        Raises:
            KeyError: ``rule`` is not a registered rule (a programming error).
        """
        check = self.checks[rule]
        if creds.get("system_scope"):
            return False
        target = target or {}
        key = (rule, creds.get("user_id"), creds.get("project_id"),
               tuple(sorted(creds.get("roles") or ())), tuple(sorted(target.items())))
        found = self._decided.get(key)
        if found is not None:
            return found
        self.evaluating.read_tree = False
        allowed = _evaluate(check, target, creds, self)
        if not self.evaluating.read_tree:  # a decision of the token and target alone: kept
            if len(self._decided) >= _CACHED:
                self._decided.clear()
            self._decided[key] = allowed
        return allowed


def from_settings(settings: Settings, subtree: SubtreeLookup | None = None) -> Policy:
    """The policy ``settings`` name (``policy_file``, ``enforce_new_defaults``).

    Raises:
        PolicyError: the policy file cannot be used (see :func:`read_overrides`).
    """
    return Policy(enforce_new_defaults=settings.enforce_new_defaults,
                  policy_file=settings.policy_file or None, subtree=subtree)
