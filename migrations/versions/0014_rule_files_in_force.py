"""rule files in force across hosts, and what each host loaded at start

Revision ID: 0014
Revises: 0011, 0013
Create Date: 2026-12-04 01:20:00

"""
import sqlalchemy as sa
from alembic import op

import backoffice.models.base

revision = '0014'
down_revision = ('0011', '0013')
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'rule_files_in_force',
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('published_at', backoffice.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('published_by', sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'name', name=op.f('pk_rule_files_in_force')),
    )
    op.create_table(
        'rule_hosts',
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('digests', backoffice.models.base.JSONType, nullable=False),
        sa.Column('agrees', sa.Boolean(), nullable=False),
        sa.Column('checked_at', backoffice.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('host', 'kind', name=op.f('pk_rule_hosts')),
    )


def downgrade():
    op.drop_table('rule_hosts')
    op.drop_table('rule_files_in_force')
