"""Start-up and health: schema state, the standard catalogues, liveness of the store."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from corral.config import Settings
from corral.persistence import Store, make_store, migrations
from corral.persistence.store import ping
from corral.services import catalog

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


def open_store(settings: Settings) -> Store:
    return make_store(settings.effective_database_url,
                      busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                      pool_size=settings.pool_size)


def schema_state(store: Store) -> SchemaState:
    return SchemaState(migrations.current(store.engine), migrations.head())


def upgrade_schema(store: Store) -> SchemaState:
    before = schema_state(store)
    if not before.up_to_date:
        migrations.upgrade(store.engine)
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
                f"(database {store.engine.url.render_as_string(hide_password=True)})")
    added = catalog.sync_standard_names(store)
    log.info("store_ready", backend=store.backend, revision=state.head,
             standard_classes_added=added[0], standard_traits_added=added[1])


def healthy(store: Store) -> bool:
    try:
        ping(store)
    except Exception as exc:  # any driver error means "not healthy"; logged, not swallowed
        log.warning("health_check_failed", error=str(exc))
        return False
    return True
