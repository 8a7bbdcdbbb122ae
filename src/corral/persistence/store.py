"""The Store: one engine per process, and a Repository per transaction.

``store.write()`` opens one transaction (``BEGIN IMMEDIATE`` on SQLite, so writers
queue on the lock instead of failing on upgrade) and yields a Repository; leaving
the block commits, an exception rolls everything back. ``store.read()`` is the
same without the write lock. Services never see a connection, only the Repository.

A database that cannot be reached (connection refused or lost, the server shutting
down, too many connections, a pool checkout or an SQLite lock past its timeout) leaves
the Store as :class:`~corral.domain.errors.StoreUnavailable`, whichever statement hit
it: callers above see a domain error they can answer (503 with Retry-After at the API),
never a driver exception. Every other database error passes through unchanged.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool, QueuePool

from corral.domain.errors import StoreUnavailable
from corral.logging import redact
from corral.persistence import checkpoint, migrations
from corral.persistence.repository import Repository
from corral.persistence.revisions import read_revision

WRITE_OPTION = "corral_write"


def sqlite_file(url: URL) -> str | None:
    """The file of an SQLite database in a file (None: another backend, or in memory)."""
    found = url.database if url.get_backend_name() == "sqlite" else None
    return found if found not in (None, "", ":memory:") else None


def make_engine(url: str, *, busy_timeout_ms: int = 30000, pool_size: int = 10) -> Engine:
    """Create an engine with the per-backend settings corral relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is not None:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        # Connections are kept (opening one and setting its pragmas costs about as much
        # as a small transaction); ":memory:" needs each connection to be its own.
        pooling: dict[str, Any] = (
            {"poolclass": NullPool} if path is None
            else {"poolclass": QueuePool, "pool_size": pool_size, "max_overflow": pool_size})
        engine = create_engine(
            url, **pooling,
            connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
        )
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's own is lazy).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints run on the store's own thread (persistence/checkpoint.py).
        cursor.execute(f"PRAGMA wal_autocheckpoint={checkpoint.BACKSTOP_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


#: PostgreSQL SQLSTATEs that mean "the server is not there for us": connection
#: exceptions (class 08), shutting down or starting up (57P01-57P03), too many clients.
_PG_UNAVAILABLE = ("08", "57P01", "57P02", "57P03", "53300")
#: SQLite's messages for a lock held past the busy timeout or a file it cannot use.
_SQLITE_UNAVAILABLE = ("database is locked", "database is busy", "database table is locked",
                       "unable to open database file", "disk i/o error")
#: Seconds a client is told to wait: PostgreSQL coming back, or SQLite's lock freed.
RETRY_AFTER_S = {"postgresql": 2, "sqlite": 1}


def unavailable(exc: BaseException, engine: Engine) -> StoreUnavailable | None:
    """The domain error for a database that cannot answer, or None for any other error.

    Accepts SQLAlchemy's wrappers and the driver's own exceptions (raw connections raise
    the latter).
    """
    backend = engine.dialect.name
    dbapi = engine.dialect.loaded_dbapi
    orig: BaseException = (exc.orig or exc) if isinstance(exc, sa_exc.DBAPIError) else exc
    down = isinstance(exc, sa_exc.TimeoutError) or (
        isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated)
    if not down and isinstance(orig, dbapi.InterfaceError):
        down = True
    elif not down and isinstance(orig, dbapi.OperationalError):
        if backend == "sqlite":
            down = str(orig).lower().startswith(_SQLITE_UNAVAILABLE)
        else:
            state = getattr(orig, "sqlstate", None)
            # No SQLSTATE: the client library failed to connect or lost the connection.
            down = state is None or str(state).startswith(_PG_UNAVAILABLE)
    if not down:
        return None
    text = str(orig).strip()
    reason = redact(text.splitlines()[0] if text else type(orig).__name__)
    return StoreUnavailable(f"{type(orig).__name__}: {reason}", RETRY_AFTER_S.get(backend, 2))


class Store:
    """The database, as the rest of corral sees it."""

    def __init__(self, engine: Engine, *, busy_timeout_ms: int = 30000) -> None:
        self.engine = engine
        local = sqlite_file(engine.url) is not None
        self._checkpointer = checkpoint.Checkpointer(self) if local else None
        #: SQLite has one writer at a time. Writers of this process queue here, and the
        #: next one starts as soon as the last commits; queued in SQLite's busy handler
        #: instead, a writer sleeps 1, 2, 5, 10, 15... ms between tries, long past a
        #: 1 ms heartbeat flush (other processes' writers still wait there).
        self._writers = threading.RLock() if local else None
        self._busy_s = busy_timeout_ms / 1000

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Raise StoreUnavailable for a database that cannot answer (module docstring)."""
        try:
            yield
        except StoreUnavailable:
            raise
        except Exception as exc:
            translated = unavailable(exc, self.engine)
            if translated is None:
                raise
            raise translated from exc

    @contextmanager
    def write(self) -> Iterator[Repository]:
        """One read-write transaction; commits on success, rolls back on any error."""
        with (self._writer(), self._translated(),
              self.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn,
              conn.begin()):
            yield Repository(conn)

    @contextmanager
    def _writer(self) -> Iterator[None]:
        """This process's turn to write (SQLite in a file; a no-op otherwise)."""
        if self._writers is None:
            yield
            return
        if not self._writers.acquire(timeout=self._busy_s):
            raise StoreUnavailable(f"the database stayed locked by this process's other "
                                   f"writers for {self._busy_s:g} s", RETRY_AFTER_S["sqlite"])
        try:
            yield
        finally:
            self._writers.release()

    @contextmanager
    def read(self) -> Iterator[Repository]:
        """One read-only transaction (READ COMMITTED on PostgreSQL: each statement sees
        what was committed when it started)."""
        with self._translated(), self.engine.connect() as conn, conn.begin():
            yield Repository(conn)

    @contextmanager
    def snapshot(self) -> Iterator[Repository]:
        """One read-only transaction that sees a single snapshot throughout (REPEATABLE
        READ on PostgreSQL; an SQLite read transaction already does), for reports that
        add up several tables."""
        options = {"isolation_level": "REPEATABLE READ"} if self.backend == "postgresql" else {}
        with (self._translated(), self.engine.connect().execution_options(**options) as conn,
              conn.begin()):
            yield Repository(conn)

    def revision(self, name: str) -> int:
        """A revision counter (``persistence/revisions.py``), read outside any transaction:
        for a cache to check whether it is still current."""
        with self._translated():
            return read_revision(self.engine, name)

    @property
    def location(self) -> str:
        """The database URL with its password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    def schema_revision(self) -> str | None:
        """The migration the database is at; None for an empty database."""
        return migrations.current(self.engine)

    def upgrade_schema(self) -> None:
        """Run the migrations up to the newest this code knows."""
        migrations.upgrade(self.engine)

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        ping(self)

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()


def make_store(url: str, *, busy_timeout_ms: int = 30000, pool_size: int = 10) -> Store:
    return Store(make_engine(url, busy_timeout_ms=busy_timeout_ms, pool_size=pool_size),
                 busy_timeout_ms=busy_timeout_ms)


def ping(store: Store) -> None:
    """Raise if the database cannot answer a trivial query."""
    with store._translated(), store.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
