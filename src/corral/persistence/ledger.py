"""SQL for the quota ledger (mixed into the Repository): read a claim's chains of
projects with their limits and usage in one statement, lock and move the usage rows, and
recount usage from the allocations, instances and server groups for the audit.

Lock order in a claim: consumers, providers (``allocations.py``), then the projects
revision row (shared; tree and limit changes take it exclusively, first), then the
ledger rows sorted by (project, resource). PostgreSQL only: SQLite writers are
serialised by ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, and_, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from corral.domain import scheduling
from corral.domain.quotas import INSTANCES, SERVER_GROUPS, Chains, resource_of_class
from corral.persistence import tables as t
from corral.persistence.prepared import Prepared
from corral.persistence.revisions import PROJECTS

_u, _r = t.quota_usage, t.revisions

# Every project on the way up from the starting ones, with its limits and ledger rows,
# and the default limits: one round trip whatever the depth.
_CHAINS = Prepared(text("""
WITH RECURSIVE chain(start, id, parent_id, depth) AS (
    SELECT p.id, p.id, p.parent_id, 0 FROM projects p WHERE p.external_id IN :starts
    UNION ALL
    SELECT c.start, p.id, p.parent_id, c.depth + 1
    FROM projects p JOIN chain c ON p.id = c.parent_id
    WHERE c.depth < 64
)
SELECT 'P' AS kind, c.start, c.id, p.external_id, c.depth,
       CAST(NULL AS VARCHAR(255)) AS resource, CAST(NULL AS BIGINT) AS a,
       CAST(NULL AS BIGINT) AS b
FROM chain c JOIN projects p ON p.id = c.id
UNION ALL
SELECT 'L', NULL, l.project_id, NULL, NULL, l.resource, l.hard_limit, NULL
FROM quota_limits l WHERE l.project_id IN (SELECT id FROM chain)
UNION ALL
SELECT 'U', NULL, u.project_id, NULL, NULL, u.resource, u.own, u.subtree
FROM quota_usage u WHERE u.project_id IN (SELECT id FROM chain)
UNION ALL
SELECT 'D', NULL, NULL, NULL, NULL, d.resource, d.hard_limit, NULL FROM quota_defaults d
""").bindparams(bindparam("starts", expanding=True)))

_SHARE_TREE = select(_r.c.value).where(_r.c.name == PROJECTS).with_for_update(read=True)
_LOCK_ROWS = (select(_u.c.project_id, _u.c.resource, _u.c.own, _u.c.subtree)
              .where(_u.c.project_id.in_(bindparam("ids", expanding=True)))
              .order_by(_u.c.project_id, _u.c.resource).with_for_update())
_MOVE = Prepared(update(_u).where(and_(_u.c.project_id == bindparam("pid"),
                                        _u.c.resource == bindparam("res")))
                  .values(own=_u.c.own + bindparam("d_own"),
                          subtree=_u.c.subtree + bindparam("d_sub")))
_al, _rc = t.allocations, t.resource_classes
_HELD = (select(_al.c.consumer_id, _rc.c.name, func.sum(_al.c.used))
         .join(_rc, _rc.c.id == _al.c.resource_class_id)
         .where(_al.c.consumer_id.in_(bindparam("ids", expanding=True)))
         .group_by(_al.c.consumer_id, _rc.c.name))
_SET = (update(_u).where(and_(_u.c.project_id == bindparam("pid"), _u.c.resource == bindparam("res")))
        .values(own=bindparam("own"), subtree=bindparam("sub")))


class LedgerQueries:
    conn: Connection

    def share_quota_tree(self) -> None:
        """Hold the tree and the limits still until commit (PostgreSQL: a shared lock on
        the projects revision, which every tree or limit change updates first)."""
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(_SHARE_TREE)

    def quota_chains(self, projects: Iterable[str]) -> Chains:
        """The chains of ``projects`` (external ids) with limits, defaults and usage.

        Unknown projects are left out of ``chains``. Usage read here is exact on SQLite
        (writers are serialised); on PostgreSQL call :meth:`lock_usage` for it.
        """
        starts = sorted(set(projects))
        out = Chains()
        if not starts:
            return out
        by_start: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
        names: dict[int, str] = {}
        for kind, start, pid, ext, depth, resource, a, b in _CHAINS.execute(
                self.conn, {"starts": starts}).fetchall():
            if kind == "P":
                by_start[start].append((depth, pid, ext))
                names[pid] = ext
            elif kind == "L":
                out.limits[(pid, resource)] = int(a)
            elif kind == "U":
                out.usage[(pid, resource)] = (int(a), int(b))
            else:
                out.defaults[resource] = int(a)
        for start, levels in by_start.items():
            levels.sort()
            out.chains[names[start]] = [(pid, ext) for _depth, pid, ext in levels]
        return out

    def ensure_usage_rows(self, keys: Iterable[tuple[int, str]]) -> None:
        """Create the ledger rows ``keys`` (project row id, resource) at zero if missing."""
        rows = [{"project_id": pid, "resource": res, "own": 0, "subtree": 0}
                for pid, res in sorted(set(keys))]
        if not rows:
            return
        ins = pg_insert if self.conn.dialect.name == "postgresql" else sqlite_insert
        self.conn.execute(ins(_u).on_conflict_do_nothing(), rows)

    def lock_usage(self, project_ids: Iterable[int],
                   read: Mapping[tuple[int, str], tuple[int, int]]
                   ) -> dict[tuple[int, str], tuple[int, int]]:
        """The current (own, subtree) of every ledger row of ``project_ids``, locked.

        PostgreSQL: the rows are locked sorted (concurrent claims never deadlock) and read
        again. SQLite: ``read`` (what :meth:`quota_chains` read in this transaction) is
        already exact, as writers are serialised.
        """
        ids = sorted(set(project_ids))
        if not ids or self.conn.dialect.name != "postgresql":
            return dict(read)
        return {(pid, res): (int(own), int(sub))
                for pid, res, own, sub in self.conn.execute(_LOCK_ROWS, {"ids": ids})}

    def move_usage(self, moves: Mapping[tuple[int, str], tuple[int, int]]) -> None:
        """Add (own, subtree) deltas to ledger rows that exist (see ensure_usage_rows)."""
        params = [{"pid": pid, "res": res, "d_own": d_own, "d_sub": d_sub}
                  for (pid, res), (d_own, d_sub) in sorted(moves.items())
                  if d_own or d_sub]
        if params:
            _MOVE.executemany(self.conn, params)

    def allocated_by_consumer(self, consumer_ids: Iterable[int]) -> dict[int, dict[str, int]]:
        """What each consumer holds now, per resource class (summed over providers)."""
        ids = sorted(set(consumer_ids))
        out: dict[int, dict[str, int]] = defaultdict(dict)
        if ids:
            for cid, name, amount in self.conn.execute(_HELD, {"ids": ids}):
                out[cid][name] = int(amount)
        return dict(out)

    # -- the audit ---------------------------------------------------------------------------

    def ledger_rows(self) -> dict[tuple[int, str], tuple[int, int]]:
        return {(pid, res): (int(own), int(sub)) for pid, res, own, sub in self.conn.execute(
            select(_u.c.project_id, _u.c.resource, _u.c.own, _u.c.subtree))}

    def recount_usage(self) -> dict[tuple[int, str], int]:
        """Own usage per (project row id, resource), counted from what exists (only
        non-zero entries)."""
        pr, co, al, rc = t.projects, t.consumers, t.allocations, t.resource_classes
        own: dict[tuple[int, str], int] = defaultdict(int)
        for pid, name, amount in self.conn.execute(
                select(co.c.project_id, rc.c.name, func.sum(al.c.used))
                .join(co, co.c.id == al.c.consumer_id)
                .join(rc, rc.c.id == al.c.resource_class_id)
                .group_by(co.c.project_id, rc.c.name)):
            own[(pid, resource_of_class(name))] += int(amount)
        inst, sg = t.instances, t.server_groups
        for pid, n in self.conn.execute(
                select(pr.c.id, func.count()).join(inst, inst.c.project_id == pr.c.external_id)
                .where(inst.c.state != scheduling.DELETED).group_by(pr.c.id)):
            own[(pid, INSTANCES)] += int(n)
        for pid, n in self.conn.execute(
                select(pr.c.id, func.count()).join(sg, sg.c.project_id == pr.c.external_id)
                .group_by(pr.c.id)):
            own[(pid, SERVER_GROUPS)] += int(n)
        return {k: v for k, v in own.items() if v}

    def orphaned_consumers(self) -> list[tuple[str, str, str]]:
        """Consumers holding allocations that no live instance accounts for, as (consumer,
        project, why): an instance's consumer after it was deleted or failed, and the
        consumer of a migration that was already confirmed or reverted (or whose instance
        is gone). Consumers corral did not create (Placement clients') are never orphans."""
        co, al, pr, inst = t.consumers, t.allocations, t.projects, t.instances
        holding = select(al.c.consumer_id).distinct().scalar_subquery()
        dead = self.conn.execute(
            select(co.c.uuid, pr.c.external_id, inst.c.state)
            .join(pr, pr.c.id == co.c.project_id).join(inst, inst.c.uuid == co.c.uuid)
            .where(co.c.id.in_(holding),
                   inst.c.state.in_([scheduling.DELETED, scheduling.ERROR])))
        out = [(uuid, project, f"instance is {state}") for uuid, project, state in dead]
        finished = (select(inst.c.migration_uuid).where(inst.c.migration_uuid.is_not(None))
                    .where(inst.c.state != scheduling.VERIFY_RESIZE).scalar_subquery())
        stale = self.conn.execute(
            select(co.c.uuid, pr.c.external_id)
            .join(pr, pr.c.id == co.c.project_id)
            .where(co.c.id.in_(holding), co.c.uuid.in_(finished)))
        out.extend((uuid, project, "migration already confirmed or reverted")
                   for uuid, project in stale)
        return sorted(out)

    def set_usage(self, rows: Mapping[tuple[int, str], tuple[int, int]]) -> None:
        """Set ledger rows to exact (own, subtree) values (the audit's repair)."""
        if not rows:
            return
        self.ensure_usage_rows(rows)
        self.conn.execute(_SET, [{"pid": pid, "res": res, "own": own, "sub": sub}
                                 for (pid, res), (own, sub) in sorted(rows.items())])
