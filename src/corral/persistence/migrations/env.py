"""Alembic environment: runs against the engine corral hands it, never a URL in a file."""

from alembic import context

from corral.persistence import (
    audit_log,  # noqa: F401 - declares its table on metadata
    events,  # noqa: F401 - declares its tables on metadata
)
from corral.persistence.tables import metadata

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies tables
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
