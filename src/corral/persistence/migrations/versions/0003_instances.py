"""Instances, scheduling decisions, and per-host build failures

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

def upgrade() -> None:
    _create_feed_and_revisions()
    _create_instances()
    _create_decisions()


def _create_feed_and_revisions() -> None:
    """Failed builds on hosts, the provider change feed and the revision counters."""
    with op.batch_alter_table('hosts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_builds', sa.Integer(), server_default='0',
                                      nullable=False))
    op.create_table('provider_changes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_provider_changes'))
    )
    revisions = op.create_table('revisions',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_revisions'))
    )
    op.bulk_insert(revisions, [{'name': 'hosts', 'value': 0}])


def _create_instances() -> None:
    """Instances, with their indexes."""
    op.create_table('instances',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('flavor_id', sa.String(length=255), nullable=False),
    sa.Column('flavor', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('host_id', sa.Integer(), nullable=True),
    sa.Column('availability_zone', sa.String(length=255), nullable=True),
    sa.Column('server_group_uuid', sa.String(length=36), nullable=True),
    sa.Column('new_flavor_id', sa.String(length=255), nullable=True),
    sa.Column('new_flavor', sa.Text(), nullable=True),
    sa.Column('source_host_id', sa.Integer(), nullable=True),
    sa.Column('migration_uuid', sa.String(length=36), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('alternates', sa.String(length=4000), nullable=False),
    sa.Column('decision_uuid', sa.String(length=36), nullable=True),
    sa.Column('fault', sa.String(length=1000), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['host_id'], ['hosts.id'], name=op.f('fk_instances_host_id_hosts'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_host_id'], ['hosts.id'],
                            name=op.f('fk_instances_source_host_id_hosts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instances')),
    sa.UniqueConstraint('uuid', name=op.f('uq_instances_uuid'))
    )
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_instances_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_instances_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_instances_host_id'), ['host_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_instances_server_group_uuid'), ['server_group_uuid'],
                              unique=False)


def _create_decisions() -> None:
    """Decision records, with their index."""
    op.create_table('decisions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('instance_uuid', sa.String(length=36), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('elapsed_ms', sa.Float(), nullable=False),
    sa.Column('record', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decisions')),
    sa.UniqueConstraint('uuid', name=op.f('uq_decisions_uuid'))
    )
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decisions_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_decisions_instance_uuid'), ['instance_uuid'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_decisions_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('decisions')
    op.drop_table('instances')
    op.drop_table('revisions')
    op.drop_table('provider_changes')
    with op.batch_alter_table('hosts', schema=None) as batch_op:
        batch_op.drop_column('failed_builds')
