"""SQLite's checkpoints run on the store's own thread, not in a commit (persistence/checkpoint.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import text

from corral.persistence import make_store
from corral.persistence.checkpoint import BACKSTOP_PAGES, EVERY_S, checkpoint


def _threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "corral-sqlite-checkpoint"]


def test_the_log_is_copied_back_without_a_commit_doing_it(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    store = make_store(f"sqlite:///{path}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == BACKSTOP_PAGES
        with store.engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (v TEXT)"))
        before = path.stat().st_size
        for _ in range(50):  # about 130 pages: far below the backstop, no commit copies them
            with store.engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (:v)"), [{"v": "x" * 500}] * 20)
        # Only a checkpoint grows the database file; a bounded wait for the thread's.
        deadline = time.monotonic() + 60 * EVERY_S
        while path.stat().st_size < before + 400_000 and time.monotonic() < deadline:
            time.sleep(EVERY_S / 5)
        assert path.stat().st_size >= before + 400_000
        busy, frames, done = checkpoint(store.engine)
        assert (busy, done) == (0, frames)
    finally:
        store.dispose()


def test_dispose_stops_the_thread_and_memory_databases_have_none(tmp_path: Path) -> None:
    before = set(_threads())
    store = make_store(f"sqlite:///{tmp_path / 'd.sqlite'}")
    started = set(_threads()) - before
    assert len(started) == 1
    store.dispose()
    assert not started.pop().is_alive()
    memory = make_store("sqlite://")
    assert not set(_threads()) - before
    memory.dispose()
