"""check-ins: the organization/time index carries the status colour (covering the reports' per-day counts)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 09:00:00

"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.create_index('ix_checkins_org_time_colour', ['organization_id', 'checked_in_at', 'status_colour'],
                              unique=False)
        batch_op.drop_index('ix_checkins_org_time')


def downgrade():
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.create_index('ix_checkins_org_time', ['organization_id', 'checked_in_at'], unique=False)
        batch_op.drop_index('ix_checkins_org_time_colour')
