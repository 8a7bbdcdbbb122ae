"""corral's project tree follows Keystone's (``auth_strategy = keystone``).

corral's project id is Keystone's, and Keystone's hierarchy is the quota tree: a
project's parent is its ``parent_id``, and a project at the top of a domain hangs under
the domain, a root. :meth:`ProjectPlacer.place` puts a project first seen (in a token,
or named in an allocation a service wrote) under its Keystone parents, creating the
missing ones from the root down, and moves it there when it was created as a root
before (an allocation written while Keystone could not be asked). Parents are looked up
with corral's service user and cached.

:meth:`ProjectPlacer.sync` compares the whole tree with Keystone's: a project moved in
Keystone is moved in corral with the same checked move as ``corral project move``
(refused, and reported, when the move would break a limit), and a project deleted in
Keystone is reported, never deleted (it may still hold instances and usage).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from corral.domain import errors
from corral.domain.audit_log import Actor
from corral.domain.keystone import IdentityUnavailable
from corral.domain.projects import Model
from corral.services import projects as project_svc
from corral.services.keystone import Keystone
from corral.services.stores import Store

log = structlog.get_logger("corral.keystone")

#: Who the audit trail records for a change made by following Keystone on its own (a
#: project placed on first sight, the periodic sync); a sync asked through the API is
#: recorded for its caller.
KEYSTONE_ACTOR = Actor(user_id="corral:keystone", project_id=None, roles=(),
                       request_id="keystone", origin="local")

#: Most projects remembered as placed (then the memory starts over: placing is idempotent).
MAX_REMEMBERED = 100_000


@dataclass
class SyncReport:
    """What one sync found: moves made, moves refused, projects Keystone no longer has."""

    moved: list[dict[str, str | None]] = field(default_factory=list)
    refused: list[dict[str, str | None]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    checked: int = 0


class ProjectPlacer:
    """Places projects under their Keystone parents and syncs the tree with Keystone's."""

    def __init__(self, store: Store, keystone: Keystone, model: Callable[[], Model], *,
                 cache_time: float = 300.0, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.store = store
        self.keystone = keystone
        self.model = model
        self.cache_time = cache_time
        self.clock = clock
        self._placed: set[str] = set()
        self._parents: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def seen(self, project_id: str) -> bool:
        """Whether ``project_id`` was placed by this process already (no I/O)."""
        return project_id in self._placed

    def parent_of(self, project_id: str, *, fresh: bool = False) -> tuple[bool, str | None]:
        """(exists in Keystone, its parent there): a domain or a project without a
        parent is a root. Cached ``cache_time`` seconds unless ``fresh``.

        Raises:
            IdentityUnavailable: Keystone cannot be asked.
        """
        now = self.clock()
        hit = self._parents.get(project_id)
        if hit is not None and not fresh and hit[0] > now:
            return True, hit[1]
        body = self.keystone.get(f"/projects/{project_id}")
        if body is None:  # domains are projects too, but some Keystones answer only here
            domain = self.keystone.get(f"/domains/{project_id}")
            if domain is None:
                self._parents.pop(project_id, None)
                return False, None
            parent = None
        else:
            project = body.get("project") or {}
            parent = None if project.get("is_domain") else project.get("parent_id")
        with self._lock:
            if len(self._parents) > MAX_REMEMBERED:
                self._parents.clear()
            self._parents[project_id] = (now + self.cache_time, parent)
        return True, parent

    def chain(self, project_id: str) -> list[tuple[str, str | None]]:
        """[(project, parent)] from the root down to ``project_id``; [] when Keystone
        does not know it."""
        found: list[tuple[str, str | None]] = []
        current: str | None = project_id
        while current is not None and len(found) <= 64:
            exists, parent = self.parent_of(current)
            if not exists:
                return []
            found.append((current, parent))
            current = parent
        return found[::-1]

    def place(self, project_id: str, actor: Actor = KEYSTONE_ACTOR) -> list[str]:
        """Put ``project_id`` (and its missing parents) under its Keystone parents: the
        projects created or moved. A project Keystone does not know is left alone.

        Raises:
            IdentityUnavailable: Keystone cannot be asked.
        """
        if self.seen(project_id):
            return []
        changed: list[str] = []
        for project, parent in self.chain(project_id):
            try:
                if self._place_one(project, parent, actor):
                    changed.append(project)
            except errors.CorralError as exc:  # a move the limits refuse, a race lost
                log.warning("keystone_project_not_placed", project=project, parent=parent,
                            reason=exc.detail)
                break
            self._remember(project)
        if changed:
            log.info("keystone_projects_placed", projects=changed)
        return changed

    def _remember(self, project_id: str) -> None:
        with self._lock:
            if len(self._placed) > MAX_REMEMBERED:
                self._placed.clear()
            self._placed.add(project_id)

    def _place_one(self, project: str, parent: str | None, actor: Actor) -> bool:
        try:
            existing = project_svc.get_project(self.store, project)
        except errors.NotFound:
            try:
                project_svc.create_project(self.store, project, model=self.model(),
                                           actor=actor, parent_id=parent)
            except errors.Conflict:  # created by another process meanwhile
                return False
            return True
        if existing.id != project:  # ``project`` is another project's name
            raise errors.InvalidInput(f"{project} names project {existing.id}")
        if existing.parent_id is None and parent is not None:
            project_svc.update_project(self.store, project, model=self.model(), actor=actor,
                                       parent_id=parent)
            return True
        return False

    def sync(self, actor: Actor = KEYSTONE_ACTOR) -> SyncReport:
        """Compare every project of corral's tree with Keystone's (see the module
        docstring). Raises IdentityUnavailable when Keystone cannot be asked."""
        report = SyncReport()
        for project in project_svc.list_projects(self.store):
            report.checked += 1
            exists, parent = self.parent_of(project.id, fresh=True)
            if not exists:
                report.deleted.append(project.id)
                continue
            if parent == project.parent_id:
                continue
            entry: dict[str, str | None] = {"project_id": project.id,
                                            "from": project.parent_id, "to": parent}
            try:
                if parent is not None:
                    self.place(parent, actor)
                project_svc.update_project(self.store, project.id, model=self.model(),
                                           actor=actor, parent_id=parent)
            except errors.CorralError as exc:
                if isinstance(exc, IdentityUnavailable):
                    raise
                report.refused.append({**entry, "reason": exc.detail})
                continue
            report.moved.append(entry)
        log.info("keystone_projects_synced", checked=report.checked, moved=len(report.moved),
                 refused=len(report.refused), deleted=report.deleted)
        return report
