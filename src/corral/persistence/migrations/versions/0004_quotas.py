"""Project tree, quota limits, the usage ledger, and API tokens

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('name', sa.String(length=255), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_projects_parent_id_projects'), 'projects',
                                    ['parent_id'], ['id'], ondelete='RESTRICT')
        batch_op.create_index(batch_op.f('ix_projects_parent_id'), ['parent_id'], unique=False)
    op.create_table('quota_defaults',
    sa.Column('resource', sa.String(length=255), nullable=False),
    sa.Column('hard_limit', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('resource', name=op.f('pk_quota_defaults'))
    )
    op.create_table('quota_limits',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('resource', sa.String(length=255), nullable=False),
    sa.Column('hard_limit', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'],
                            name=op.f('fk_quota_limits_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'resource', name=op.f('pk_quota_limits'))
    )
    op.create_table('quota_usage',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('resource', sa.String(length=255), nullable=False),
    sa.Column('own', sa.BigInteger(), nullable=False),
    sa.Column('subtree', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'],
                            name=op.f('fk_quota_usage_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'resource', name=op.f('pk_quota_usage'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=True),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('uuid', name=op.f('uq_api_tokens_uuid')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_api_tokens_secret_hash'))
    )
    op.execute("INSERT INTO revisions (name, value) SELECT 'projects', 0 "
               "WHERE NOT EXISTS (SELECT 1 FROM revisions WHERE name = 'projects')")


def downgrade() -> None:
    op.execute("DELETE FROM revisions WHERE name = 'projects'")
    op.drop_table('api_tokens')
    op.drop_table('quota_usage')
    op.drop_table('quota_limits')
    op.drop_table('quota_defaults')
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_projects_parent_id'))
        batch_op.drop_constraint(batch_op.f('fk_projects_parent_id_projects'), type_='foreignkey')
        batch_op.drop_column('name')
        batch_op.drop_column('parent_id')
