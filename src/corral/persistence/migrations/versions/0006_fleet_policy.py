"""The fleet policy: settings 'corral serve' publishes for every process to read

Revision ID: 0006_fleet_policy
Revises: 0005_idempotency_keys
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = '0006_fleet_policy'
down_revision = '0005_idempotency_keys'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fleet_policy',
    sa.Column('layer', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('origin', sa.String(length=255), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('layer', 'name', name=op.f('pk_fleet_policy'))
    )


def downgrade() -> None:
    op.drop_table('fleet_policy')
