"""The inbox of corral's own event consumer (idempotence by message_id)

Revision ID: 0010_inbox
Revises: 0009_events
Create Date: 2026-12-08
"""

from alembic import op
import sqlalchemy as sa


revision = '0010_inbox'
down_revision = '0009_events'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('event_inbox',
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('message_id', name=op.f('pk_event_inbox'))
    )
    op.create_index(op.f('ix_event_inbox_received_at'), 'event_inbox', ['received_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_event_inbox_received_at'), table_name='event_inbox')
    op.drop_table('event_inbox')
