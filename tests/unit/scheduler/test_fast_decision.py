"""The decision with a HostIndex (host-ordered arrays, cached structural masks, the best
hosts found by bounding blocks) against the exhaustive decision (every host's row read,
every candidate weighed): same hosts, same order, same alternates, same scores to the
bit, same funnel, same explanations, over random fleets, requests and claims."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.domain import scheduling as s
from corral.domain.capacity import Inventory
from corral.engine.records import ProviderRecord
from corral.engine.request import CandidateRequest, RequestGroup
from corral.engine.state import FleetState
from corral.scheduler import fast
from corral.scheduler.filters import FILTER_NAMES
from corral.scheduler.filters.compute import since
from corral.scheduler.hosts import AggregateInfo, HostInfo, HostTable, Policy
from corral.scheduler.index import HostIndex, IndexCache
from corral.scheduler.query import FilterContext, HostQuery
from corral.scheduler.runner import Choice, Pick, Saved, active, pick, restore, weigh

from .test_scheduling_filters import EFFECTIVE, NOW

CLASSES = ("VCPU", "MEMORY_MB", "DISK_GB")
TRAITS = ("HW_A", "HW_B")
AGGREGATES = (
    AggregateInfo("az1", {"availability_zone": "z1"}),
    AggregateInfo("az2", {"availability_zone": "z2"}),
    AggregateInfo("ssd", {"ssd": "true,fast"}),
    AggregateInfo("iso", {"filter_tenant_id": "p2"}),
    AggregateInfo("cap", {"max_instances_per_host": "2"}),
    AggregateInfo("packers", {"scheduler_strategy": "pack"}),
    AggregateInfo("heavy", {"ram_weight_multiplier": "3.0"}),
)
#: Aggregates that keep every host's multipliers equal (the bounded path applies).
UNIFORM = ("az1", "az2", "ssd", "iso", "cap")


@st.composite
def inventories(draw: st.DrawFn) -> dict[str, Inventory]:
    size = draw(st.sampled_from([2, 4, 8]))
    odd = draw(st.sampled_from([None, "max", "step"]))
    out = {}
    for k, rc in enumerate(CLASSES):
        total = size * (1, 1024, 10)[k]
        inv = Inventory(total)
        if odd == "max" and rc == "VCPU":
            inv = Inventory(total, max_unit=1)
        elif odd == "step" and rc == "DISK_GB":
            inv = Inventory(total, step_size=20)
        out[rc] = inv
    return out


@st.composite
def hosts(draw: st.DrawFn, pid: int, uniform: bool) -> tuple[ProviderRecord, HostInfo]:
    inv = draw(inventories())
    # Few distinct values: equal scores (ties broken by host index) are common.
    used = {rc: draw(st.sampled_from([0, 0, i.total // 4, i.total // 2, i.total]))
            for rc, i in inv.items()}
    aggs = draw(st.lists(st.sampled_from(UNIFORM if uniform else
                                         tuple(a.name for a in AGGREGATES)),
                         max_size=2, unique=True))
    traits = frozenset(draw(st.lists(st.sampled_from(TRAITS), max_size=2, unique=True)))
    record = ProviderRecord(id=pid, uuid=f"rp{pid}", generation=0, parent_id=None,
                            root_id=pid, inventories=inv, used=used, traits=traits,
                            consumers=draw(st.integers(0, 3)))
    age = draw(st.sampled_from([0.0, 0.0, 0.0, 500.0, None]))
    info = HostInfo(id=pid, name=f"h{pid:03d}", provider_uuid=f"rp{pid}",
                    enabled=draw(st.booleans()) or draw(st.booleans()),
                    forced_down=draw(st.integers(0, 9)) == 0,
                    heartbeat=None if age is None else NOW - age,
                    failed_builds=draw(st.sampled_from([0, 0, 0, 0, 1, 2])),
                    effective=EFFECTIVE, aggregates=tuple(aggs))
    return record, info


@st.composite
def queries(draw: st.DrawFn, names: list[str]) -> HostQuery:
    resources = {"VCPU": draw(st.sampled_from([1, 2])),
                 "MEMORY_MB": draw(st.sampled_from([512, 1024, 2048])),
                 "DISK_GB": draw(st.sampled_from([0, 10, 20]))}
    resources = {k: v for k, v in resources.items() if v}
    required = frozenset(draw(st.lists(st.sampled_from(TRAITS), max_size=1)))
    forbidden = frozenset(draw(st.lists(st.sampled_from(TRAITS), max_size=1))) - required
    group = RequestGroup("", tuple(sorted(resources.items())),
                         tuple(frozenset([t]) for t in sorted(required)), forbidden)
    policy = draw(st.sampled_from([None, None, s.AFFINITY, s.ANTI_AFFINITY, s.SOFT_AFFINITY,
                                   s.SOFT_ANTI_AFFINITY]))
    members = {h: draw(st.integers(1, 2)) for h in
               draw(st.lists(st.sampled_from(names), max_size=3, unique=True))} \
        if policy else {}
    hint = draw(st.sampled_from([None, "same", "different"]))
    named = frozenset(draw(st.lists(st.sampled_from(names), min_size=1, max_size=4)))
    return HostQuery(
        request=CandidateRequest((group,)), resources=resources,
        project_id=draw(st.sampled_from(["p1", "p2"])), required_traits=required,
        forbidden_traits=forbidden, zone=draw(st.sampled_from([None, None, "z1", "z2", "z9"])),
        aggregate_specs=draw(st.sampled_from([{}, {}, {"ssd": "fast"}])),
        same_host=named if hint == "same" else None,
        different_host=named if hint == "different" else frozenset(),
        group_policy=policy, group_members=members,
        max_server_per_host=draw(st.integers(1, 2)),
        exclude=frozenset(draw(st.lists(st.sampled_from(names), max_size=2))),
        now=NOW, down_after_s=60.0)


@st.composite
def choices(draw: st.DrawFn) -> Choice:
    filters = list(FILTER_NAMES)
    if draw(st.booleans()):
        filters = draw(st.permutations(filters))[:draw(st.integers(1, len(filters)))]
    return Choice(tuple(filters), draw(st.integers(1, 3)), draw(st.integers(1, 3)),
                  draw(st.integers(1, 12)))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    weights = {w: draw(st.sampled_from(values)) for w, values in (
        ("ram", [1.0, 1.0, 2.0, -1.0, 0.5]), ("cpu", [1.0, 0.0, 3.0]), ("disk", [1.0, 0.0]),
        ("num_instances", [0.0, 0.0, 1.0, -1.0]), ("build_failure", [1_000_000.0, 0.0]),
        ("soft_affinity", [1.0, 2.0]), ("soft_anti_affinity", [1.0]))}
    return Policy(strategy=draw(st.sampled_from(["spread", "pack"])),
                  max_instances_per_host=draw(st.sampled_from([3, 50])), multipliers=weights)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal arrays, to the bit (the sign of a zero included)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_same(ref: Pick, got: Pick) -> None:
    assert got.funnel.counts() == ref.funnel.counts()
    for (name, a), (_, b) in zip(ref.funnel.steps, got.funnel.steps, strict=True):
        assert np.array_equal(a, b), name
    if ref.placements is None:
        assert got.placements is None
        assert ref.explanation is not None and got.explanation is not None
        assert got.explanation.as_dict() == ref.explanation.as_dict()
    else:
        assert got.placements == ref.placements
    assert (ref.weights is None) == (got.weights is None)
    if ref.weights is not None and got.weights is not None:
        assert same(got.weights.hosts, ref.weights.hosts)
        assert same(got.weights.total, ref.weights.total)
        assert list(got.weights.components) == list(ref.weights.components)
        for name, part in ref.weights.components.items():
            assert same(got.weights.components[name], part), name


def decide_both(state: FleetState, table: HostTable, cache: IndexCache, q: HostQuery,
                count: int, choice: Choice, seed: int) -> Pick:
    consumers = [f"c{k}" for k in range(count)]
    saved: Saved = {}
    ref = pick(state, table, q, consumers, saved, choice, random.Random(seed))
    restore(state, saved)
    index = cache.get(state, table)
    saved = {}
    got = pick(state, table, q, consumers, saved, choice, random.Random(seed), index)
    restore(state, saved, index)
    assert_same(ref, got)
    return got


def claim(state: FleetState, records: dict[int, ProviderRecord], got: Pick) -> None:
    """Commit the placements as a claim would: the providers' rows written again."""
    for p in got.placements or []:
        for uuid, resources in p.allocations.items():
            pid = int(uuid[2:])
            rec = records[pid]
            used = dict(rec.used)
            for rc, amount in resources.items():
                used[rc] = used.get(rc, 0) + amount
            records[pid] = replace(rec, used=used, consumers=rec.consumers + 1)
            state.apply([records[pid]])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_fast_decision_is_the_exhaustive_one(data: st.DataObject) -> None:
    uniform = data.draw(st.booleans())
    n = data.draw(st.integers(1, 40))
    fleet = [data.draw(hosts(pid, uniform)) for pid in range(1, n + 1)]
    records = {r.id: r for r, _ in fleet}
    state = FleetState()
    state.apply(list(records.values()))
    table = HostTable([i for _, i in fleet], AGGREGATES, data.draw(policies()))
    cache = IndexCache(block=data.draw(st.sampled_from([1, 2, 4, 8])))
    for _step in range(data.draw(st.integers(1, 4))):
        q = data.draw(queries(table.names))
        got = decide_both(state, table, cache, q, data.draw(st.integers(1, 3)),
                          data.draw(choices()), data.draw(st.integers(0, 2**32)))
        claim(state, records, got)
        if data.draw(st.integers(0, 4)) == 0:  # a provider's traits change (structure)
            pid = data.draw(st.sampled_from(sorted(records)))
            traits = frozenset(data.draw(st.lists(st.sampled_from(TRAITS), unique=True)))
            records[pid] = replace(records[pid], traits=traits)
            state.apply([records[pid]])


def uniform_fleet(n: int, free: list[int]) -> tuple[FleetState, HostTable]:
    state = FleetState()
    infos = []
    for pid in range(1, n + 1):
        mb = free[pid % len(free)]
        state.apply([ProviderRecord(id=pid, uuid=f"rp{pid}", generation=0, parent_id=None,
                                    root_id=pid,
                                    inventories={"MEMORY_MB": Inventory(65536)},
                                    used={"MEMORY_MB": 65536 - mb})])
        infos.append(HostInfo(id=pid, name=f"h{pid:04d}", provider_uuid=f"rp{pid}",
                              enabled=True, forced_down=False, heartbeat=NOW,
                              failed_builds=0, effective=EFFECTIVE))
    return state, HostTable(infos, (), Policy(multipliers={"cpu": 0.0, "disk": 0.0}))


def ask_memory(mb: int) -> HostQuery:
    group = RequestGroup("", (("MEMORY_MB", mb),))
    return HostQuery(request=CandidateRequest((group,)), resources={"MEMORY_MB": mb},
                     project_id="p", now=NOW)


def test_the_bounds_answer_without_weighing_every_candidate() -> None:
    """On 2,000 hosts in blocks of 16 (125 blocks), the ten best are found within
    fast.MAX_BLOCKS blocks (the bounded path answers: it does not give up), and they
    are the exhaustive ten, spread and pack."""
    state, table = uniform_fleet(2000, [2048, 4096, 8192, 3000])
    index = HostIndex(state, table, block=16)
    for strategy in ("spread", "pack"):
        table = HostTable(table.hosts, (), replace(table.policy, strategy=strategy))
        ctx = FilterContext(state, table, ask_memory(2048), index)
        passed = index.fits((("MEMORY_MB", 2048),))
        found = fast.best(ctx, passed, 10, active(table))
        assert found is not None
        exhaustive = weigh(FilterContext(state, table, ask_memory(2048)),
                           np.flatnonzero(passed), 10)
        assert same(found.hosts, exhaustive.hosts)
        assert same(found.total, exhaustive.total)


def test_a_trait_change_reaches_the_cached_masks() -> None:
    """A provider that gains a required trait between two decisions is a candidate in
    the second (the structural masks are not kept past a change of structure)."""
    records = {pid: ProviderRecord(id=pid, uuid=f"rp{pid}", generation=0, parent_id=None,
                                   root_id=pid, inventories={"MEMORY_MB": Inventory(4096)},
                                   traits=frozenset({"HW_A"}) if pid == 1 else frozenset())
               for pid in (1, 2)}
    state = FleetState()
    state.apply(list(records.values()))
    table = HostTable([HostInfo(id=pid, name=f"h{pid}", provider_uuid=f"rp{pid}",
                                enabled=True, forced_down=False, heartbeat=NOW,
                                failed_builds=0, effective=EFFECTIVE) for pid in (1, 2)],
                      (), Policy())
    q = replace(ask_memory(512), required_traits=frozenset({"HW_A"}))
    choice = Choice(FILTER_NAMES, 1, 3, 10)
    cache = IndexCache(block=1)
    first = decide_both(state, table, cache, q, 1, choice, 0)
    assert [p.host for p in first.placements or []] == ["h1"]
    state.apply([replace(records[1], traits=frozenset())])
    state.apply([replace(records[2], traits=frozenset({"HW_A"}))])
    second = decide_both(state, table, cache, q, 1, choice, 0)
    assert [p.host for p in second.placements or []] == ["h2"]


@settings(max_examples=300, deadline=None)
@given(now=st.floats(1e3, 4e9), down=st.floats(1.0, 4e9), back=st.floats(-10.0, 4e9),
       ulps=st.integers(-3, 3))
def test_a_fresh_heartbeat_is_one_comparison(now: float, down: float, back: float,
                                             ulps: int) -> None:
    """``heartbeat >= since(now, down)`` is ``now - heartbeat <= down``, to the last ulp,
    and since() answers at once, even where ``now - down`` is tiny next to ``now``."""
    beat = now - back
    if back == down or ulps:  # right at the edge, and a few ulps either side of it
        beat = now - down
        for _ in range(abs(ulps)):
            beat = math.nextafter(beat, math.inf if ulps > 0 else -math.inf)
    oldest = since(now, down)  # None: too far from now - down to step to (compared)
    if oldest is not None:
        assert (beat >= oldest) == (now - beat <= down)


def test_since_gives_up_rather_than_stepping_for_ever() -> None:
    """now - down far smaller than now: no threshold within reach (None, the filter
    then compares differences); it used to step one ulp at a time for ages."""
    assert since(1e6, 1e6 - 1e-3) is None
    assert since(1e6, 60.0) is not None


def test_the_sampling_mode_weighs_a_share_and_says_so() -> None:
    """Off by default; at 10 % of 300 candidates (minimum 20), 30 are weighed, the
    funnel ends with a sampled step, and the host chosen is one that passed."""
    state, table = uniform_fleet(300, [2048, 4096, 8192])
    q = ask_memory(512)
    whole = pick(state, table, q, ["c"], {}, Choice(FILTER_NAMES, 1, 3, 10),
                 random.Random(1), IndexCache().get(state, table))
    assert whole.funnel.sampled is None
    assert whole.funnel.counts()[-1]["step"] == FILTER_NAMES[-1]
    sampled = pick(state, table, q, ["c"], {}, Choice(FILTER_NAMES, 1, 3, 10, 10, 20),
                   random.Random(1), IndexCache().get(state, table))
    assert sampled.funnel.sampled == 30
    assert sampled.funnel.counts()[-1] == {"step": "sampled", "hosts": 30, "removed": 270}
    assert sampled.placements is not None and sampled.placements[0].host in table.names
    few = pick(state, table, q, ["c"], {}, Choice(FILTER_NAMES, 1, 3, 10, 10, 300),
               random.Random(1), IndexCache().get(state, table))
    assert few.funnel.sampled is None  # no more candidates than the minimum: all weighed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hosts_going_down_and_coming_back_reach_the_cached_freshness(
        data: st.DataObject) -> None:
    """The index keeps which heartbeats are fresh between decisions; as time passes
    hosts cross the threshold one by one, and a heartbeat (through the table, or through
    an older table sharing its column) brings one back: every decision's funnel is the
    exhaustive one's."""
    n = data.draw(st.integers(2, 30))
    ages = data.draw(st.lists(st.sampled_from([0.0, 10.0, 30.0, 50.0, 59.0, 61.0, None]),
                              min_size=n, max_size=n))
    state, table = uniform_fleet(n, [8192])
    table = HostTable([replace(h, heartbeat=None if a is None else NOW - a)
                       for h, a in zip(table.hosts, ages, strict=True)], (), table.policy)
    older = table.changed([])[0]  # shares the heartbeat column with ``table``
    cache = IndexCache(block=data.draw(st.sampled_from([1, 4])))
    choice = Choice(FILTER_NAMES, 1, 3, 10)
    now = NOW
    for _step in range(data.draw(st.integers(1, 6))):
        move = data.draw(st.sampled_from(["wait", "wait", "beat", "beat-older", "back"]))
        if move == "wait":
            now += data.draw(st.sampled_from([0.0, 1.0, 5.0, 20.0]))
        elif move == "back":  # the clock steps back a little
            now -= 1.0
        else:
            host = data.draw(st.integers(0, n - 1))
            (table if move == "beat" else older).beat([host], now)
        q = replace(ask_memory(512), now=now)
        decide_both(state, table, cache, q, 1, choice, 0)
