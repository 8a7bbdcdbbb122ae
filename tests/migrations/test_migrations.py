"""The migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from corral.persistence import Store, migrations, tables


def test_upgraded_schema_matches_the_declared_tables(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), tables.metadata)
    assert diff == []


def test_database_is_at_head_after_upgrade(store: Store) -> None:
    assert migrations.current(store.engine) == migrations.head()
    names = set(inspect(store.engine).get_table_names())
    assert {t.name for t in tables.metadata.sorted_tables} <= names
