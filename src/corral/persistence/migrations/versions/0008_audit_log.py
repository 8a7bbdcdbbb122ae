"""The audit trail of admin actions: one row per recorded change

Revision ID: 0008_audit_log
Revises: 0007_host_sequences
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = '0008_audit_log'
down_revision = '0007_host_sequences'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('actor_user_id', sa.String(length=255), nullable=False),
    sa.Column('actor_project_id', sa.String(length=255), nullable=True),
    sa.Column('actor_roles', sa.Text(), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=255), nullable=False),
    sa.Column('before', sa.Text(), nullable=True),
    sa.Column('after', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_actor_project_id'), ['actor_project_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_actor_user_id'), ['actor_user_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_created_at'), ['created_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_object_type_object_id'),
                              ['object_type', 'object_id'], unique=False)


def downgrade() -> None:
    op.drop_table('audit_log')
