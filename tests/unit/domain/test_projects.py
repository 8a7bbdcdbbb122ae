"""corral.domain.projects: the tree, the allocation models, moves and the quota view."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corral.domain import errors
from corral.domain.project_checks import (
    MAX_DEPTH,
    ProjectCycle,
    SubtreeDoesNotFit,
    TreeTooDeep,
    Violation,
    check_project_id,
)
from corral.domain.projects import (
    Model,
    Node,
    Tree,
    below_usage,
    check_move,
    check_subtree_fits,
    move_deltas,
    move_plan,
    new_violations,
    quota_of,
    violations,
)
from corral.domain.quotas import UNLIMITED, Headroom


def make(parents: Mapping[str, str | None], limits: Mapping[str, Mapping[str, int]] | None = None,
         defaults: Mapping[str, int] | None = None) -> Tree:
    return Tree([Node(p, parent, dict((limits or {}).get(p, {})))
                 for p, parent in parents.items()], defaults)


MODELS: tuple[Model, ...] = ("overbook", "strict")
ORG = {"org": None, "a": "org", "b": "org", "a1": "a", "a2": "a"}


# -- the tree --------------------------------------------------------------------------------

def test_chain_path_descendants_and_height() -> None:
    tree = make(ORG)
    assert tree.roots() == ["org"]
    assert tree.chain("a1") == ["a1", "a", "org"]
    assert tree.path("a1") == ("org", "a", "a1")
    assert tree.descendants("org") == ["a", "a1", "a2", "b"]
    assert tree.descendants("org", depth=1) == ["a", "b"]
    assert tree.descendants("org", depth=0) == []
    assert (tree.height("org"), tree.height("a"), tree.height("a1")) == (2, 1, 0)


def test_project_ids() -> None:
    assert check_project_id("0f3a-keystone") == "0f3a-keystone"
    for bad in ("", "a/b", " a", "a ", "x" * 256, "defaults"):
        with pytest.raises(errors.InvalidInput) as caught:
            check_project_id(bad, field="parent_id")
        assert caught.value.field == "parent_id"


def test_effective_limit_and_its_source() -> None:
    tree = make(ORG, {"a": {"cores": 5}}, {"cores": 2, "ram": 10})
    assert (tree.effective("a", "cores"), tree.source("a", "cores")) == (5, "project")
    assert (tree.effective("b", "cores"), tree.source("b", "cores")) == (2, "default")
    assert (tree.effective("b", "disk"), tree.source("b", "disk")) == (UNLIMITED, "none")


# -- the models ------------------------------------------------------------------------------

def test_overbook_child_above_any_ancestor() -> None:
    tree = make(ORG, {"org": {"cores": 10}, "a1": {"cores": 11}, "a2": {"cores": UNLIMITED},
                      "b": {"cores": 10}})
    found = violations(tree, "overbook")
    assert [(v.rule, v.project, v.over, v.limit, v.over_limit) for v in found] == [
        ("above_ancestor", "a1", "org", 11, 10),
        ("above_ancestor", "a2", "org", UNLIMITED, 10)]


def test_strict_sums_children_with_defaults_and_skips_group_members() -> None:
    tree = make(ORG, {"org": {"cores": 10, "server_group_members": 3},
                      "a": {"cores": 6, "server_group_members": 3},
                      "b": {"server_group_members": 3}}, {"cores": 4})
    assert violations(tree, "overbook") == []
    # org: a (6) + b (the default, 4) = 10 fits; a: a1 + a2 (4 each) = 8 does not.
    assert violations(tree, "strict") == [Violation("children_sum", "cores", "a", "a", 8, 6)]
    unlimited = make({"p": None, "c": "p"}, {"p": {"ram": 1}})
    assert [v.rule for v in violations(unlimited, "strict")] == ["unlimited_child"]
    assert violations(unlimited, "overbook") == []


def test_only_what_a_change_makes_worse_is_refused() -> None:
    old = Violation("children_sum", "cores", "p", "p", 12, 10)
    assert new_violations([old], [old]) == []
    worse = Violation("children_sum", "cores", "p", "p", 13, 10)
    assert new_violations([old], [worse]) == [worse]
    better = Violation("children_sum", "cores", "p", "p", 11, 10)
    assert new_violations([old], [better]) == []
    other = Violation("above_ancestor", "cores", "c", "p", 11, 10)
    assert new_violations([old], [old, other]) == [other]


# -- moves -----------------------------------------------------------------------------------

def test_moves_refuse_cycles_and_depth() -> None:
    tree = make(ORG)
    with pytest.raises(ProjectCycle):
        check_move(tree, "a", "a")
    with pytest.raises(ProjectCycle):
        check_move(tree, "org", "a2")
    check_move(tree, "a", "b")
    check_move(tree, "a", None)
    deep = make({f"l{i}": (f"l{i - 1}" if i else None) for i in range(MAX_DEPTH)} | {"x": None,
                                                                                    "y": "x"})
    check_move(deep, "y", f"l{MAX_DEPTH - 2}")
    with pytest.raises(TreeTooDeep):
        check_move(deep, "x", f"l{MAX_DEPTH - 2}")


def test_move_plan_leaves_common_ancestors_alone() -> None:
    tree = make(ORG)
    assert move_plan(tree, "a1", "b") == (["a"], ["b"])
    assert move_plan(tree, "a1", "a2") == ([], ["a2"])
    assert move_plan(tree, "a1", None) == (["a", "org"], [])


def test_subtree_fit_names_the_nearest_refusing_ancestor() -> None:
    tree = make(ORG, {"org": {"cores": 100}, "b": {"cores": 10}})
    usage = {("b", "cores"): 7, ("org", "cores"): 90}
    check_subtree_fits(tree, "a1", {"cores": 3}, ["b"], usage)
    with pytest.raises(SubtreeDoesNotFit) as caught:
        check_subtree_fits(tree, "a1", {"cores": 4}, ["b", "org"], usage)
    assert caught.value.facts() == {"project_id": "b", "resource": "cores", "limit": 10,
                                    "in_use": 7, "requested": 4, "for_project": "a1"}


# -- usage -----------------------------------------------------------------------------------

def test_below_usage_and_the_quota_view() -> None:
    tree = make(ORG, {"org": {"cores": 10}, "a": {"cores": 4}})
    assert [(w.project_id, w.limit, w.in_use) for w in below_usage(
        tree, ["org", "a", "b"], ["cores"], {("a", "cores"): 5, ("b", "cores"): 99})] == [
        ("a", 4, 5)]
    usage = {("a1", "cores"): (2, 3), ("a", "cores"): (0, 3), ("org", "cores"): (0, 8)}
    (cores,) = quota_of(tree, "a1", usage)
    assert (cores.limit, cores.source, cores.own, cores.subtree) == (UNLIMITED, "none", 2, 3)
    assert cores.headroom == Headroom(1, "a")


# -- properties ------------------------------------------------------------------------------

@st.composite
def trees(draw: st.DrawFn) -> tuple[Tree, dict[tuple[str, str], int]]:
    """A random forest with random limits and a random own usage per project."""
    n = draw(st.integers(1, 12))
    parents: dict[str, str | None] = {}
    for i in range(n):
        parent = draw(st.none() | st.integers(0, i - 1)) if i else None
        parents[f"p{i}"] = None if parent is None else f"p{parent}"
    limit = st.integers(UNLIMITED, 20)
    limits = {p: draw(st.dictionaries(st.sampled_from(["cores", "ram"]), limit, max_size=2))
              for p in parents}
    defaults = draw(st.dictionaries(st.sampled_from(["cores", "ram"]), limit, max_size=2))
    own = {(p, r): draw(st.integers(0, 5)) for p in parents for r in ("cores", "ram")}
    return make(parents, limits, defaults), own


def subtree_usage(tree: Tree, own: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    return {(p, r): own[(p, r)] + sum(own[(d, r)] for d in tree.descendants(p))
            for (p, r) in own}


@settings(max_examples=200, deadline=None)
@given(trees(), st.data())
def test_a_move_keeps_the_ledger_equal_to_a_recount(
        drawn: tuple[Tree, dict[tuple[str, str], int]], data: st.DataObject) -> None:
    tree, own = drawn
    project = data.draw(st.sampled_from(sorted(tree.nodes)))
    allowed = [p for p in sorted(tree.nodes)
               if p != project and p not in tree.descendants(project)]
    parent = data.draw(st.none() | st.sampled_from(allowed) if allowed else st.none())
    ledger = subtree_usage(tree, own)
    losing, gaining = move_plan(tree, project, parent)
    moved = {r: ledger[(project, r)] for r in ("cores", "ram")}
    for key, delta in move_deltas(losing, gaining, moved).items():
        ledger[key] += delta
    assert ledger == subtree_usage(tree.with_parent(project, parent), own)


@settings(max_examples=200, deadline=None)
@given(trees())
def test_a_tree_without_violations_keeps_every_limit_under_its_ancestors(
        drawn: tuple[Tree, dict[tuple[str, str], int]]) -> None:
    tree, _ = drawn
    for model in MODELS:
        if violations(tree, model):
            continue
        for p, node in tree.nodes.items():
            for res, own in node.limits.items():
                for anc in tree.ancestors(p):
                    cap = tree.effective(anc, res)
                    assert cap == UNLIMITED or own != UNLIMITED and own <= cap
                if model == "strict":
                    kids = tree.children(p)
                    cap = tree.effective(p, res)
                    if kids and cap != UNLIMITED:
                        shares = [tree.effective(k, res) for k in kids]
                        assert UNLIMITED not in shares and sum(shares) <= cap
    # A change that changes nothing is never refused.
    for model in MODELS:
        found = violations(tree, model)
        assert new_violations(found, found) == []


@settings(max_examples=200, deadline=None)
@given(trees(), st.data())
def test_headroom_is_the_least_room_on_the_chain(
        drawn: tuple[Tree, dict[tuple[str, str], int]], data: st.DataObject) -> None:
    tree, own = drawn
    project = data.draw(st.sampled_from(sorted(tree.nodes)))
    sub = subtree_usage(tree, own)
    usage = {key: (own[key], sub[key]) for key in own}
    for q in quota_of(tree, project, usage):
        rooms = [max(0, tree.effective(p, q.resource) - sub[(p, q.resource)])
                 for p in tree.chain(project) if tree.effective(p, q.resource) != UNLIMITED]
        assert q.headroom.room == (min(rooms) if rooms else None)
        if q.headroom.binding is not None:
            assert q.headroom.binding in tree.chain(project)
        # Anything that fits the headroom fits every level of the chain.
        if q.headroom.room is not None:
            for p in tree.chain(project):
                cap = tree.effective(p, q.resource)
                assert cap == UNLIMITED or sub[(p, q.resource)] + q.headroom.room <= max(
                    cap, sub[(p, q.resource)])
