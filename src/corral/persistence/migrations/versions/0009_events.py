"""Events: the outbox the RabbitMQ relay publishes, and the relay's lease

Revision ID: 0009_events
Revises: 0008_audit_log
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = '0009_events'
down_revision = '0008_audit_log'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
              nullable=False),
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('priority', sa.String(length=8), nullable=False),
    sa.Column('publisher_id', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=255), nullable=False),
    sa.Column('payload_version', sa.String(length=8), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
    sa.UniqueConstraint('message_id', name=op.f('uq_events_message_id'))
    )
    op.create_index(op.f('ix_events_created_at'), 'events', ['created_at'], unique=False)
    op.create_index('ix_events_object', 'events', ['object_type', 'object_id'], unique=False)
    op.create_index('ix_events_event_type', 'events', ['event_type'], unique=False)
    op.create_index('ix_events_pending', 'events', ['id'], unique=False,
                    sqlite_where=sa.text('sent_at IS NULL'),
                    postgresql_where=sa.text('sent_at IS NULL'))
    op.create_table('relay_leases',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('holder', sa.String(length=255), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_relay_leases'))
    )


def downgrade() -> None:
    op.drop_table('relay_leases')
    op.drop_index('ix_events_pending', table_name='events')
    op.drop_index('ix_events_event_type', table_name='events')
    op.drop_index('ix_events_object', table_name='events')
    op.drop_index(op.f('ix_events_created_at'), table_name='events')
    op.drop_table('events')
