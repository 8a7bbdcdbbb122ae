"""SQL for hosts and host aggregates (mixed into the Repository)."""

from __future__ import annotations

from sqlalchemy import Connection


class HostQueries:
    conn: Connection
