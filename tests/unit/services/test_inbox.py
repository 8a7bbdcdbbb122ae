"""The consumer's inbox: a message_id is handled once, in the transaction of its row."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from corral.domain.inbox import Delivered
from corral.persistence import Store


def _event() -> Delivered:
    return Delivered(str(uuid.uuid4()), "instance.create.start", "instance", "i1",
                     datetime(2026, 12, 8, 3, 0), "1.0", {"instance_id": "i1"})


def test_a_message_id_is_recorded_once(store: Store) -> None:
    event = _event()
    with store.write() as repo:
        assert repo.record_inbox(event, datetime(2026, 12, 8, 3, 1))
    with store.write() as repo:
        assert not repo.record_inbox(event, datetime(2026, 12, 8, 3, 2))  # a duplicate


def test_a_rolled_back_handling_leaves_no_row(store: Store) -> None:
    event = _event()
    with pytest.raises(RuntimeError), store.write() as repo:
        assert repo.record_inbox(event, datetime(2026, 12, 8, 3, 1))
        raise RuntimeError("the handler failed")
    with store.write() as repo:  # the next delivery is handled, not dropped
        assert repo.record_inbox(event, datetime(2026, 12, 8, 3, 2))


def test_old_rows_are_trimmed(store: Store) -> None:
    with store.write() as repo:
        repo.record_inbox(_event(), datetime(2026, 12, 1))
        repo.record_inbox(_event(), datetime(2026, 12, 8))
    with store.write() as repo:
        assert repo.trim_inbox(datetime(2026, 12, 5)) == 1
