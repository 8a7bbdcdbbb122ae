"""The heartbeat log's arithmetic: each host's latest time over flushes in any order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from corral.persistence.heartbeats import _pack, latest

_flush = st.tuples(st.floats(0, 1e9, allow_nan=False),
                   st.lists(st.integers(0, 50), unique=True, max_size=20))


@given(st.lists(_flush, max_size=30))
def test_latest_is_each_hosts_latest_flush(flushes: list[tuple[float, list[int]]]) -> None:
    logged = [(seq, when, _pack(ids)) for seq, (when, ids) in enumerate(flushes)]
    expected: dict[int, float] = {}
    for when, ids in flushes:
        for i in ids:
            expected[i] = max(expected.get(i, when), when)
    hosts, flush = latest(logged)
    assert hosts.tolist() == sorted(expected)
    found = {i: logged[f][1] for i, f in zip(hosts.tolist(), flush.tolist(), strict=True)}
    assert found == expected
