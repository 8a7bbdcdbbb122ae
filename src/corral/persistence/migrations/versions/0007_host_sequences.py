"""Hosts read incrementally: a change sequence on host rows, a log of heartbeat flushes

Revision ID: 0007_host_sequences
Revises: 0006_fleet_policy
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = '0007_host_sequences'
down_revision = '0006_fleet_policy'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hosts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('row_seq', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.create_index(batch_op.f('ix_hosts_row_seq'), ['row_seq'], unique=False)
    op.create_table('heartbeat_flushes',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('host_ids', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_heartbeat_flushes'))
    )


def downgrade() -> None:
    op.drop_table('heartbeat_flushes')
    with op.batch_alter_table('hosts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hosts_row_seq'))
        batch_op.drop_column('row_seq')
