"""Reads that feed the in-memory engine: a cheap fingerprint of every provider's state,
per-provider versions to find what changed (as integers: :func:`provider_version`;
every provider's at once as arrays, for the full check), and full records of the
changed ones."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select

from corral.domain.capacity import Inventory
from corral.domain.model import ProviderSnapshot, provider_version
from corral.persistence import tables as t
from corral.persistence.prepared import Prepared

CHUNK = 5000
#: The change feed keeps this many entries; a write prunes it now and then.
KEEP_CHANGES = 100_000
PRUNE_CHANCE = 0.001


# Statements every decision runs, built once.
_pc, _rp = t.provider_changes, t.resource_providers
_LOG_CHANGE = Prepared(insert(_pc))
_LOG_CHANGE_ID = Prepared(insert(_pc).returning(_pc.c.id))
#: Up to this many providers changed together, their feed ids are read back.
FEW_CHANGES = 4
_LAST_CHANGE = Prepared(select(func.max(_pc.c.id)))
_CHANGES_AFTER = Prepared(select(_pc.c.id, _pc.c.provider_id).where(_pc.c.id > bindparam("after")))
_CHANGES_AFTER_OR = Prepared(select(_pc.c.id, _pc.c.provider_id).where(
    or_(_pc.c.id > bindparam("after"), _pc.c.id.in_(bindparam("also", expanding=True)))))
#: A provider's version: (id, generation, updated_at, parent, root).
_VERSIONS = select(_rp.c.id, _rp.c.generation, _rp.c.updated_at, _rp.c.parent_provider_id,
                   _rp.c.root_provider_id)
#: The same for every provider, as plain SQL read through the driver (the full check).
_VERSIONS_SQL = (f"SELECT id, generation, updated_at, parent_provider_id, root_provider_id "
                 f"FROM {_rp.name} ORDER BY id")
_VERSIONS_OF = _VERSIONS.where(_rp.c.id.in_(bindparam("ids", expanding=True)))


class SnapshotQueries:
    conn: Connection
    logged_changes: list[int]

    # Provided by Repository; declared for the type checker.
    if TYPE_CHECKING:
        def inventories(self, provider_ids: Iterable[int]) -> dict[int, dict[str, Inventory]]: ...
        def usages(self, provider_ids: Iterable[int]) -> dict[int, dict[str, int]]: ...
        def provider_traits(self, provider_ids: Iterable[int]) -> dict[int, list[str]]: ...
        def provider_aggregates(self, provider_ids: Iterable[int]) -> dict[int, list[str]]: ...

    def log_provider_changes(self, ids: Iterable[int]) -> None:
        """Name changed providers in the change feed (same transaction as the change)."""
        rows = [{"provider_id": i} for i in sorted(set(ids))]
        if not rows:
            return
        if len(rows) <= FEW_CHANGES:  # a claim: one row each, so we learn our own ids
            for row in rows:
                self.logged_changes.append(
                    int(_LOG_CHANGE_ID.execute(self.conn, row, columns=row).fetchone()[0]))
        else:
            _LOG_CHANGE.executemany(self.conn, rows)
        if random.random() < PRUNE_CHANCE:
            pc = t.provider_changes
            self.conn.execute(delete(pc).where(
                pc.c.id < select(func.max(pc.c.id) - KEEP_CHANGES).scalar_subquery()))

    def last_provider_change(self) -> int:
        row = _LAST_CHANGE.execute(self.conn).fetchone()
        return int(row[0] or 0) if row is not None else 0

    def provider_changes_after(self, change_id: int, also: list[int]
                               ) -> list[tuple[int, int]]:
        """(feed id, provider id) of every change after ``change_id``, and of the ids in
        ``also`` now present."""
        if also:
            rows = _CHANGES_AFTER_OR.execute(self.conn, {"after": change_id, "also": also})
        else:
            rows = _CHANGES_AFTER.execute(self.conn, {"after": change_id})
        return [(int(change), int(provider)) for change, provider in rows]

    def provider_versions_of(self, ids: Iterable[int]) -> dict[int, tuple[int, int, int, int]]:
        wanted = sorted(set(ids))
        out: dict[int, tuple[int, int, int, int]] = {}
        for start in range(0, len(wanted), CHUNK):
            rows = self.conn.execute(_VERSIONS_OF, {"ids": wanted[start:start + CHUNK]})
            out.update({row[0]: provider_version(*row[1:]) for row in rows})
        return out

    def provider_fingerprint(self) -> tuple[object, ...]:
        """Changes whenever any provider is created, changed or deleted."""
        rp = t.resource_providers
        row = self.conn.execute(select(
            func.count(), func.coalesce(func.sum(rp.c.generation), 0), func.max(rp.c.id),
            func.max(rp.c.updated_at), func.coalesce(func.sum(rp.c.root_provider_id), 0),
            func.coalesce(func.sum(rp.c.parent_provider_id), 0))).one()
        return tuple(row)

    def provider_versions(self) -> dict[int, tuple[int, int, int, int]]:
        return {row[0]: provider_version(*row[1:]) for row in self.conn.execute(_VERSIONS)}

    def provider_version_buckets(self, width: int) -> npt.NDArray[np.int64]:
        """Per bucket of ``width`` consecutive provider ids holding any, sorted: the
        bucket (id // width), its providers, the sums of their ids, generations, parent
        ids and root ids (0 for none), and their latest updated_at (microseconds).
        Added up by the database: a few hundred rows for 100,000 providers."""
        w = int(width)
        rows = self.conn.exec_driver_sql(
            f"SELECT id / {w}, count(*), sum(id), sum(generation), "
            f"sum(coalesce(parent_provider_id, 0)), sum(coalesce(root_provider_id, 0)), "
            f"max(updated_at) FROM {_rp.name} GROUP BY id / {w} ORDER BY 1").fetchall()
        out = np.zeros((len(rows), 7), dtype=np.int64)
        if rows:
            cols = list(zip(*rows, strict=True))
            for i in range(6):  # PostgreSQL's sums come as Decimal
                out[:, i] = [int(v) for v in cols[i]]
            out[:, 6] = np.array(cols[6], dtype="datetime64[us]").astype(np.int64)
        return out

    def provider_version_table(self, ranges: Iterable[tuple[int, int]] | None = None
                               ) -> npt.NDArray[np.int64]:
        """Every provider's version as one array, a row per provider sorted by id:
        columns id, generation, updated_at (microseconds), parent id, root id (0 for
        none); ``ranges``: only the ids from ``low`` up to (not with) ``high`` of each.
        The full check of the engine reads it; built without a tuple per row."""
        # The driver's own values (no per-row type processing): times come as ISO
        # strings (SQLite) or datetimes (PostgreSQL), both parsed by NumPy at once.
        sql = _VERSIONS_SQL
        if ranges is not None:
            within = " OR ".join(f"(id >= {int(lo)} AND id < {int(hi)})" for lo, hi in ranges)
            sql = sql.replace(" ORDER BY", f" WHERE {within or 'false'} ORDER BY")
        result = self.conn.exec_driver_sql(sql)
        parts: list[npt.NDArray[np.int64]] = []
        while rows := result.fetchmany(CHUNK):  # a chunk at a time: few objects at once
            part = np.zeros((len(rows), 5), dtype=np.int64)
            ids, generations, updated, parents, roots = zip(*rows, strict=True)
            part[:, 0], part[:, 1] = ids, generations
            part[:, 2] = np.array(updated, dtype="datetime64[us]").astype(np.int64)
            part[:, 3] = [p or 0 for p in parents]
            part[:, 4] = [r or 0 for r in roots]
            parts.append(part)
        return np.concatenate(parts) if parts else np.zeros((0, 5), dtype=np.int64)

    def provider_rows(self, ids: list[int]) -> list[ProviderSnapshot]:
        """Everything about the given providers (chunked IN lists)."""
        rp = t.resource_providers
        out: list[ProviderSnapshot] = []
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            rows = self.conn.execute(select(rp.c.id, rp.c.uuid, rp.c.generation,
                                            rp.c.parent_provider_id, rp.c.root_provider_id,
                                            rp.c.updated_at).where(rp.c.id.in_(chunk)))
            invs, used = self.inventories(chunk), self.usages(chunk)
            traits, aggs = self.provider_traits(chunk), self.provider_aggregates(chunk)
            consumers = self.consumer_counts(chunk)
            for pid, uuid, gen, parent, root, updated in rows:
                out.append(ProviderSnapshot(
                    pid, uuid, int(gen), parent, root or pid, invs[pid], used[pid], traits[pid],
                    aggs[pid], provider_version(gen, updated, parent, root),
                    consumers.get(pid, 0)))
        return out

    def consumer_counts(self, ids: list[int]) -> dict[int, int]:
        """{provider id: how many consumers hold allocations against it}."""
        a = t.allocations
        rows = self.conn.execute(
            select(a.c.resource_provider_id, func.count(func.distinct(a.c.consumer_id)))
            .where(a.c.resource_provider_id.in_(ids)).group_by(a.c.resource_provider_id))
        return {pid: int(n) for pid, n in rows}
