"""The server process's own settings (api/asgi.py): its garbage collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from corral.api.asgi import SERVER_GC_THRESHOLDS, tune_gc


@pytest.fixture
def collector() -> Iterator[None]:
    """Put the test process's collector back as it was."""
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("collector")
def test_server_process_collects_young_objects_rarely() -> None:
    tune_gc()
    assert gc.get_threshold() == SERVER_GC_THRESHOLDS
    assert SERVER_GC_THRESHOLDS[0] >= 10_000
