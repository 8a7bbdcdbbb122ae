"""SQL for flavors and server groups (mixed into the Repository)."""

from __future__ import annotations

from sqlalchemy import Connection


class FlavorQueries:
    conn: Connection
