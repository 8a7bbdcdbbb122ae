"""Start-up and health: schema state, the standard catalogues, liveness of the store,
and the fleet policy every process reads.

The fleet policy (:data:`corral.config.FLEET_POLICY`: liveness, overcommit defaults,
the scheduler's choices, the quota model) is what makes one fleet look the same to
whoever asks. ``corral serve`` publishes the values it runs with into the database at
start-up (:func:`publish_fleet_policy`); a CLI command reads and decides with the
published values (:func:`fleet_view`), its own configuration only when no server ever
published. Below explicit configuration, a database may carry defaults of its fleet
(:func:`record_fleet_default`: the demo's hosts never heartbeat, so its fleet keeps
hosts up for a year), which both the server and the CLI apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import ValidationError

from corral.config import FLEET_POLICY, Settings
from corral.domain.audit_log import Actor
from corral.domain.fleet_policy import DEFAULT, PUBLISHED, PolicyValue
from corral.persistence import Store as SqlStore
from corral.persistence import make_store, migrations
from corral.services import catalog
from corral.services.audit_log import record
from corral.services.stores import Store

log = structlog.get_logger("corral.system")


class SchemaBehind(Exception):
    """The database schema is older than this code; the message says how to fix it."""


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


#: The SQL store satisfies the port (checked by mypy here: persistence never imports it).
_SQL_STORE_IS_A_STORE: type[Store] = SqlStore


def open_store_at(url: str, *, busy_timeout_ms: int = 30000, pool_size: int = 10
                  ) -> Store:
    """The real store at ``url`` (SQLite or PostgreSQL): the one place above persistence
    that names it, so the API and CLI can hold only the :class:`Store` protocol."""
    return make_store(url, busy_timeout_ms=busy_timeout_ms, pool_size=pool_size)


def open_store(settings: Settings) -> Store:
    """The store ``settings`` configure."""
    return open_store_at(settings.effective_database_url,
                         busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                         pool_size=settings.pool_size)


def schema_state(store: Store) -> SchemaState:
    return SchemaState(store.schema_revision(), migrations.head())


def upgrade_schema(store: Store) -> SchemaState:
    before = schema_state(store)
    if not before.up_to_date:
        store.upgrade_schema()
        log.info("schema_upgraded", before=before.current, after=before.head)
    catalog.sync_standard_names(store)
    return schema_state(store)


def prepare(store: Store, settings: Settings) -> None:
    """Make the store ready to serve, or refuse with the command that fixes it."""
    state = schema_state(store)
    if not state.up_to_date:
        if settings.auto_migrate:
            upgrade_schema(store)
        else:
            raise SchemaBehind(
                f"database schema is at {state.current or 'nothing (empty database)'}, "
                f"this corral needs {state.head}: run 'corral db upgrade' "
                f"(database {store.location})")
    added = catalog.sync_standard_names(store)
    log.info("store_ready", backend=store.backend, revision=state.head,
             standard_classes_added=added[0], standard_traits_added=added[1])


def healthy(store: Store) -> bool:
    try:
        store.ping()
    except Exception as exc:  # any driver error means "not healthy"; logged, not swallowed
        log.warning("health_check_failed", error=str(exc))
        return False
    return True


# -- the fleet policy ----------------------------------------------------------------------

#: The origin of a value nobody configured.
BUILT_IN = "built-in default"


@dataclass(frozen=True)
class Override:
    """A fleet option whose value a command takes from the database, not its own
    configuration."""

    name: str
    value: object
    origin: str
    configured: object
    configured_from: str

    def sentence(self) -> str:
        return (f"{self.name} is {_show(self.value)} ({self.origin}); this command's "
                f"configuration says {_show(self.configured)} ({self.configured_from}), "
                "which is not used: one fleet, one policy")


@dataclass(frozen=True)
class FleetView:
    """The settings a command reads and decides with, and what it took from the database."""

    settings: Settings
    origins: dict[str, str]
    overrides: list[Override] = field(default_factory=list)
    published: bool = False


def _show(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if value != "" else "''"


def _published_label(found: PolicyValue) -> str:
    stamp = found.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"published by 'corral serve' at {stamp}, from {found.origin}"


def _merge(settings: Settings, values: Mapping[str, object]) -> tuple[Settings, set[str]]:
    """``settings`` with ``values``; values this code refuses are left out (returned)."""
    wanted = {k: v for k, v in values.items() if k in FLEET_POLICY}
    refused: set[str] = set()
    while True:
        try:
            return Settings.model_validate({**settings.model_dump(), **wanted}), refused
        except ValidationError as exc:
            bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]} & set(wanted)
            if not bad:
                raise
            refused |= bad
            for name in bad:
                del wanted[name]


def with_fleet_defaults(store: Store, settings: Settings, origins: Mapping[str, str]
                        ) -> tuple[Settings, dict[str, str]]:
    """The settings a server runs with: explicit configuration, else the database's
    fleet defaults, else the built-in defaults. Returns them and the origin of every
    fleet option."""
    with store.read() as repo:
        defaults = repo.fleet_policy(DEFAULT)
    taken = {k: v.value for k, v in defaults.items() if k not in origins}
    merged, refused = _merge(settings, taken)
    where = {name: origins.get(name) or (
        f"{defaults[name].origin} (a default of this database's fleet)"
        if name in taken and name not in refused else BUILT_IN) for name in FLEET_POLICY}
    return merged, where


def publish_fleet_policy(store: Store, settings: Settings, origins: Mapping[str, str], *,
                         actor: Actor) -> None:
    """Record the fleet policy a server runs with, for every other process to read (an
    audit entry when a value changed)."""
    values = {name: (getattr(settings, name), origins.get(name, BUILT_IN))
              for name in FLEET_POLICY}
    with store.write() as repo:
        before = repo.fleet_policy(PUBLISHED)
        repo.replace_fleet_policy(PUBLISHED, values)
        was = {n: before[n].value for n in values if n in before}
        now = {n: v for n, (v, _o) in values.items()}
        if was != now:
            moved = [n for n in now if n not in was or was[n] != now[n]]
            record(repo, actor, "fleet_policy.publish", "fleet_policy", PUBLISHED,
                   before={n: was[n] for n in moved if n in was} or None,
                   after={n: now[n] for n in moved})
    changed = {n: {"was": before[n].value, "now": v} for n, (v, _o) in values.items()
               if n in before and before[n].value != v}
    log.info("fleet_policy_published", changed=changed or None,
             host_down_after_s=settings.host_down_after_s)


def record_fleet_default(store: Store, name: str, value: object, origin: str, *,
                         actor: Actor) -> None:
    """Record a default of this database's fleet (explicit configuration still wins)."""
    if name not in FLEET_POLICY:
        raise ValueError(f"{name} is not a fleet policy option")
    with store.write() as repo:
        was = repo.fleet_policy(DEFAULT).get(name)
        repo.set_fleet_policy(DEFAULT, name, value, origin)
        record(repo, actor, "fleet_policy.set_default", "fleet_policy", DEFAULT,
               before=None if was is None else {name: was.value}, after={name: value})


def fleet_view(store: Store, settings: Settings, origins: Mapping[str, str]) -> FleetView:
    """The settings a one-shot command reads and decides with.

    What the last ``corral serve`` published, for every fleet option it published;
    otherwise as a server would run (:func:`with_fleet_defaults`). Each explicitly
    configured value that differs from the one used is returned as an Override, for the
    command to say so.
    """
    own, where = with_fleet_defaults(store, settings, origins)
    with store.read() as repo:
        published = repo.fleet_policy(PUBLISHED)
    if not published:
        return FleetView(own, where)
    merged, refused = _merge(own, {k: v.value for k, v in published.items()})
    overrides = []
    for name in FLEET_POLICY:
        if name not in published or name in refused:
            continue
        used, mine = getattr(merged, name), getattr(own, name)
        where[name] = _published_label(published[name])
        if used != mine and name in origins:
            overrides.append(Override(name, used, where[name], mine, origins[name]))
    return FleetView(merged, where, overrides, published=True)


def fleet_configuration(view: FleetView) -> dict[str, Any]:
    """Every fleet option with its value and origin (for 'corral config show')."""
    return {name: {"value": getattr(view.settings, name), "origin": view.origins[name]}
            for name in FLEET_POLICY}
