"""Writers of one process on an SQLite file take turns in the Store, and a writer that
waits past the busy timeout is refused as the database's own lock would refuse it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from corral.domain.errors import StoreUnavailable
from corral.persistence import make_store
from corral.persistence.revisions import BEATS
from corral.services import system


def test_a_writer_queued_past_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'w.sqlite'}", busy_timeout_ms=200)
    system.upgrade_schema(store)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.write() as repo:
            repo.next_in(BEATS)
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(30)
        with pytest.raises(StoreUnavailable), store.write() as repo:
            repo.next_in(BEATS)
    finally:
        release.set()
        holder.join(30)
    with store.write() as repo:  # the turn passes on once the holder commits
        assert repo.next_in(BEATS) == 2
    store.dispose()


def test_a_writer_may_read_while_it_writes(tmp_path: Path) -> None:
    """Reads take no turn: one inside a write sees what was committed before it."""
    store = make_store(f"sqlite:///{tmp_path / 'n.sqlite'}", busy_timeout_ms=200)
    system.upgrade_schema(store)
    with store.write() as repo:
        repo.next_in(BEATS)
        with store.read() as other:
            assert other.revision(BEATS) == 0  # not committed yet
    store.dispose()
