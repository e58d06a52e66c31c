"""tracing: cases wait for a second officer's approval without a positive test; referrals of contacts who live in
another district (issue 14, point 5)

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-10 09:00:00

"""
from alembic import op
import sqlalchemy as sa

import backoffice.models.base

revision = '0004'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    # Cases already in the table were traced at once: they are 'open'.
    with op.batch_alter_table('trace_cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='open', nullable=False))
        batch_op.add_column(sa.Column('reason', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('approved_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('approved_at', backoffice.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_trace_cases_approved_by_id_users'), 'users', ['approved_by_id'],
                                    ['id'], ondelete='SET NULL')
        batch_op.create_check_constraint('status', "status IN ('pending', 'open')")

    op.create_table('trace_referrals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trace_case_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('district_code', sa.Integer(), nullable=True),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('contact_from', backoffice.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('contact_to', backoffice.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('stays', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', backoffice.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', backoffice.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('open', 'acknowledged')", name=op.f('ck_trace_referrals_status')),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['users.id'], name=op.f('fk_trace_referrals_acknowledged_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['district_code'], ['districts.code'], name=op.f('fk_trace_referrals_district_code_districts')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_trace_referrals_location_id_locations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_trace_referrals_person_id_persons'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['trace_case_id'], ['trace_cases.id'], name=op.f('fk_trace_referrals_trace_case_id_trace_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trace_referrals')),
    sa.UniqueConstraint('trace_case_id', 'person_id', name=op.f('uq_trace_referrals_trace_case_id_person_id'))
    )
    with op.batch_alter_table('trace_referrals', schema=None) as batch_op:
        batch_op.create_index('ix_trace_referrals_district_status', ['district_code', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_trace_referrals_person_id'), ['person_id'], unique=False)


def downgrade():
    with op.batch_alter_table('trace_referrals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trace_referrals_person_id'))
        batch_op.drop_index('ix_trace_referrals_district_status')
    op.drop_table('trace_referrals')
    with op.batch_alter_table('trace_cases', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_trace_cases_status'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_trace_cases_approved_by_id_users'), type_='foreignkey')
        batch_op.drop_column('approved_at')
        batch_op.drop_column('approved_by_id')
        batch_op.drop_column('reason')
        batch_op.drop_column('status')
