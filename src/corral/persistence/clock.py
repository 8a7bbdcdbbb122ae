"""Timestamps as the store keeps them: naive UTC, whole seconds, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
