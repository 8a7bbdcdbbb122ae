"""Use cases over a real store: SQLite here (the HTTP and concurrency suites run them
on PostgreSQL too)."""

from __future__ import annotations

import pytest


@pytest.fixture
def backend() -> str:
    return "sqlite"
