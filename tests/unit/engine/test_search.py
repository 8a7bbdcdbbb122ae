"""The candidate search on hand-built fleets: one scenario per Placement rule."""

from __future__ import annotations

from corral.domain.capacity import Inventory
from corral.engine.records import ProviderRecord
from corral.engine.request import CandidateRequest, RequestGroup
from corral.engine.search import find_candidates
from corral.engine.state import TRAIT_SHARING, FleetState

Shown = set[tuple[frozenset[tuple[str, str, int]], frozenset[tuple[str, frozenset[str]]]]]


def rec(pid: int, *, parent: int | None = None, root: int | None = None,
        inv: dict[str, int] | None = None, used: dict[str, int] | None = None,
        traits: frozenset[str] = frozenset(), aggs: frozenset[str] = frozenset(),
        max_unit: int = 2147483647) -> ProviderRecord:
    return ProviderRecord(
        id=pid, uuid=f"rp{pid}", generation=0, parent_id=parent,
        root_id=root if root is not None else pid,
        inventories={rc: Inventory(total, max_unit=max_unit) for rc, total in (inv or {}).items()},
        used=used or {}, traits=traits, aggregates=aggs)


def fleet(*records: ProviderRecord) -> FleetState:
    state = FleetState()
    state.apply(list(records))
    return state


def found(state: FleetState, *groups: RequestGroup, **kw: object) -> Shown:
    req = CandidateRequest(groups=groups, **kw)  # type: ignore[arg-type]
    out: Shown = set()
    cands = find_candidates(state, req)
    for c in cands:
        out.add((frozenset((state.uuid_of[r], rc, a) for r, res in c.allocations.items()
                           for rc, a in res.items()),
                 frozenset((s, frozenset(state.uuid_of[r] for r in rows))
                           for s, rows in c.mappings.items())))
    assert len(out) == len(cands), "a candidate was returned twice"
    return out


def cand(allocs: dict[str, dict[str, int]], mappings: dict[str, set[str]]
         ) -> tuple[frozenset[tuple[str, str, int]], frozenset[tuple[str, frozenset[str]]]]:
    return (frozenset((rp, rc, a) for rp, res in allocs.items() for rc, a in res.items()),
            frozenset((s, frozenset(rps)) for s, rps in mappings.items()))


def vcpu(suffix: str = "", amount: int = 1, **kw: object) -> RequestGroup:
    return RequestGroup(suffix, (("VCPU", amount),), **kw)  # type: ignore[arg-type]


# A compute node (no inventory, in agg-1) with two NUMA children holding VCPU.
NUMA = (rec(1, aggs=frozenset({"agg-1"})),
        rec(2, parent=1, root=1, inv={"VCPU": 4}),
        rec(3, parent=1, root=1, inv={"VCPU": 4}))


def test_unsuffixed_member_of_covers_the_whole_tree() -> None:
    got = found(fleet(*NUMA), vcpu(member_of=(frozenset({"agg-1"}),)))
    assert got == {cand({"rp2": {"VCPU": 1}}, {"": {"rp2"}}),
                   cand({"rp3": {"VCPU": 1}}, {"": {"rp3"}})}
    assert found(fleet(*NUMA), vcpu(forbidden_aggregates=frozenset({"agg-1"}))) == set()


def test_suffixed_member_of_needs_the_provider_itself() -> None:
    assert found(fleet(*NUMA), vcpu("1", member_of=(frozenset({"agg-1"}),))) == set()
    tagged = (*NUMA[:2], rec(3, parent=1, root=1, inv={"VCPU": 4}, aggs=frozenset({"agg-1"})))
    assert found(fleet(*tagged), vcpu("1", member_of=(frozenset({"agg-1"}),))) == {
        cand({"rp3": {"VCPU": 1}}, {"1": {"rp3"}})}
    assert found(fleet(*tagged), vcpu("1", forbidden_aggregates=frozenset({"agg-1"}))) == {
        cand({"rp2": {"VCPU": 1}}, {"1": {"rp2"}})}


def test_before_1_29_a_child_alone_may_serve_but_not_with_its_tree() -> None:
    state = fleet(rec(1, inv={"DISK_GB": 10}), rec(2, parent=1, root=1, inv={"VCPU": 4}))
    assert found(state, vcpu(), nested=False) == {cand({"rp2": {"VCPU": 1}}, {"": {"rp2"}})}
    both = RequestGroup("", (("VCPU", 1), ("DISK_GB", 1)))
    assert found(state, both, nested=False) == set()
    assert found(state, both) == {
        cand({"rp2": {"VCPU": 1}, "rp1": {"DISK_GB": 1}}, {"": {"rp1", "rp2"}})}


def test_groups_on_one_provider_must_fit_max_unit_together() -> None:
    state = fleet(rec(1, inv={"VCPU": 8}, max_unit=2))
    assert found(state, vcpu("1", 2), vcpu("2", 2)) == set()
    assert found(state, vcpu("1", 1), vcpu("2", 1)) == {
        cand({"rp1": {"VCPU": 2}}, {"1": {"rp1"}, "2": {"rp1"}})}


def test_groups_swapped_between_providers_are_two_candidates() -> None:
    # Same allocations, different mappings: Placement lists both.
    got = found(fleet(*NUMA), vcpu("_A"), vcpu("_B"), group_policy="isolate")
    assert got == {cand({"rp2": {"VCPU": 1}, "rp3": {"VCPU": 1}}, {"_A": {"rp2"}, "_B": {"rp3"}}),
                   cand({"rp2": {"VCPU": 1}, "rp3": {"VCPU": 1}}, {"_A": {"rp3"}, "_B": {"rp2"}})}


def test_a_candidate_only_of_sharing_providers_is_listed_once() -> None:
    shares = frozenset({TRAIT_SHARING})
    state = fleet(rec(1, inv={"VCPU": 4}, aggs=frozenset({"a"})),
                  rec(2, inv={"VCPU": 4}, aggs=frozenset({"a"})),
                  rec(3, inv={"DISK_GB": 100}, traits=shares, aggs=frozenset({"a"})))
    disk = RequestGroup("", (("DISK_GB", 10),))
    assert found(state, disk) == {cand({"rp3": {"DISK_GB": 10}}, {"": {"rp3"}})}
    both = RequestGroup("", (("VCPU", 1), ("DISK_GB", 10)))
    assert found(state, both) == {
        cand({"rp1": {"VCPU": 1}, "rp3": {"DISK_GB": 10}}, {"": {"rp1", "rp3"}}),
        cand({"rp2": {"VCPU": 1}, "rp3": {"DISK_GB": 10}}, {"": {"rp2", "rp3"}})}


def test_sharing_provider_outside_the_aggregate_serves_nobody_else() -> None:
    shares = frozenset({TRAIT_SHARING})
    state = fleet(rec(1, inv={"VCPU": 4}, aggs=frozenset({"a"})),
                  rec(2, inv={"DISK_GB": 100}, traits=shares, aggs=frozenset({"b"})))
    assert found(state, RequestGroup("", (("VCPU", 1), ("DISK_GB", 10)))) == set()


def test_unsuffixed_traits_are_judged_on_the_providers_used() -> None:
    trait = frozenset({"CUSTOM_X"})
    state = fleet(rec(1, traits=trait), rec(2, parent=1, root=1, inv={"VCPU": 4}))
    assert found(state, vcpu(required=(trait,))) == set()
    state = fleet(rec(1), rec(2, parent=1, root=1, inv={"VCPU": 4}, traits=trait))
    assert found(state, vcpu(required=(trait,))) == {cand({"rp2": {"VCPU": 1}}, {"": {"rp2"}})}
    assert found(state, vcpu(forbidden=trait)) == set()


def test_unsuffixed_in_tree_at_a_sharing_provider_serves_that_tree_only() -> None:
    shares = frozenset({TRAIT_SHARING})
    state = fleet(rec(1, inv={"VCPU": 4}, aggs=frozenset({"a"})),
                  rec(2, inv={"DISK_GB": 100}, traits=shares, aggs=frozenset({"a"})))
    disk_in_share = RequestGroup("", (("DISK_GB", 10),), in_tree="rp2")
    # Without in_tree the shared disk joins rp1's VCPU; with it, the unsuffixed group is
    # anchored to rp2's own tree, which has no VCPU to offer the suffixed group.
    assert found(state, RequestGroup("", (("DISK_GB", 10),)), vcpu("1")) == {
        cand({"rp1": {"VCPU": 1}, "rp2": {"DISK_GB": 10}}, {"": {"rp2"}, "1": {"rp1"}})}
    assert found(state, disk_in_share, vcpu("1")) == set()
    assert found(state, disk_in_share) == {cand({"rp2": {"DISK_GB": 10}}, {"": {"rp2"}})}
    # A suffixed group's sharing provider still serves the trees it shares with.
    disk1 = RequestGroup("1", (("DISK_GB", 10),), in_tree="rp2")
    assert found(state, RequestGroup("", (("VCPU", 1),)), disk1) == {
        cand({"rp1": {"VCPU": 1}, "rp2": {"DISK_GB": 10}}, {"": {"rp1"}, "1": {"rp2"}})}
