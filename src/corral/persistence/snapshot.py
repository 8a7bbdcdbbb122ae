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
from corral.domain.model import ProviderSnapshot, micros, provider_version
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

    def provider_version_table(self) -> npt.NDArray[np.int64]:
        """Every provider's version as one array, a row per provider sorted by id:
        columns id, generation, updated_at (microseconds), parent id, root id (0 for
        none). The full check of the engine reads it; built without a tuple per row."""
        rows = self.conn.execute(_VERSIONS.order_by(_rp.c.id)).fetchall()
        out = np.zeros((len(rows), 5), dtype=np.int64)
        if rows:
            ids, generations, updated, parents, roots = zip(*rows, strict=True)
            out[:, 0], out[:, 1] = ids, generations
            out[:, 2] = [micros(u) for u in updated]
            out[:, 3] = [p or 0 for p in parents]
            out[:, 4] = [r or 0 for r in roots]
        return out

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
