"""retention ledger: the days whose check-ins were rolled up and deleted, and the index the purge goes down

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 18:00:00

"""
import sqlalchemy as sa
from alembic import op

import backoffice.models.base
from backoffice import online_migrations as online

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'retired_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('checkins', sa.BigInteger(), nullable=False),
        sa.Column('late_checkins', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('retired_at', backoffice.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('retired_by', sa.String(length=255), nullable=False),
        sa.Column('last_retired_at', backoffice.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('day', name=op.f('pk_retired_days')),
    )
    # Built concurrently, and on PostgreSQL only (the model says why): scans keep writing check-ins meanwhile.
    if op.get_bind().dialect.name == 'postgresql':
        online.create_index('ix_checkins_time', 'checkins', ['checked_in_at'])


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        online.drop_index('ix_checkins_time', 'checkins')
    op.drop_table('retired_days')
