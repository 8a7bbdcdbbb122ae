"""Change sequences on hosts: heartbeats and row changes read incrementally

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
        batch_op.add_column(sa.Column('beat_seq', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('row_seq', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.create_index(batch_op.f('ix_hosts_beat_seq'), ['beat_seq'], unique=False)
        batch_op.create_index(batch_op.f('ix_hosts_row_seq'), ['row_seq'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('hosts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hosts_row_seq'))
        batch_op.drop_index(batch_op.f('ix_hosts_beat_seq'))
        batch_op.drop_column('row_seq')
        batch_op.drop_column('beat_seq')
