"""runs of the periodic jobs, one claimed row per job and period

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 18:20:00

"""
import sqlalchemy as sa
from alembic import op

import backoffice.models.base

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'job_runs',
        sa.Column('job', sa.String(length=40), nullable=False),
        sa.Column('slot', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('host', sa.String(length=120), nullable=False),
        sa.Column('started_at', backoffice.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', backoffice.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.CheckConstraint("status IN ('running', 'done', 'failed')", name=op.f('ck_job_runs_job_run_status')),
        sa.PrimaryKeyConstraint('job', 'slot', name=op.f('pk_job_runs')),
    )


def downgrade():
    op.drop_table('job_runs')
