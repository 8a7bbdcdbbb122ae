"""Host liveness: the state (up or down) each host's last host.up/host.down event told

Revision ID: 0011_host_liveness
Revises: 0010_inbox
Create Date: 2026-12-08
"""

from alembic import op
import sqlalchemy as sa


revision = '0011_host_liveness'
down_revision = '0010_inbox'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('host_liveness',
    sa.Column('host_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('changed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['host_id'], ['hosts.id'],
                            name=op.f('fk_host_liveness_host_id_hosts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('host_id', name=op.f('pk_host_liveness'))
    )


def downgrade() -> None:
    op.drop_table('host_liveness')
