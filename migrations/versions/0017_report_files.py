"""workbooks prepared by the queue's worker for the user who asked

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 18:20:00

"""
import sqlalchemy as sa
from alembic import op

import backoffice.models.base

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'report_files',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('district_code', sa.Integer(), nullable=True),
        sa.Column('sector', sa.String(length=32), nullable=True),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('requested_by_id', sa.Integer(), nullable=False),
        sa.Column('requested_at', backoffice.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('started_at', backoffice.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('finished_at', backoffice.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('done', sa.Integer(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('message', sa.String(length=500), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=True),
        sa.CheckConstraint("kind IN ('district', 'city')", name=op.f('ck_report_files_report_file_kind')),
        sa.CheckConstraint("state IN ('queued', 'running', 'done', 'failed')",
                           name=op.f('ck_report_files_report_file_state')),
        sa.ForeignKeyConstraint(['district_code'], ['districts.code'],
                                name=op.f('fk_report_files_district_code_districts')),
        sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_report_files_requested_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_report_files')),
    )
    op.create_index(op.f('ix_report_files_requested_by_id'), 'report_files', ['requested_by_id'])
    op.create_index(op.f('ix_report_files_requested_at'), 'report_files', ['requested_at'])


def downgrade():
    op.drop_table('report_files')
