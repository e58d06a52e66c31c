"""check-ins: the organization/time index carries the status colour (covering the reports' per-day counts)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 09:00:00

"""
from backoffice import online_migrations as online

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


# Built concurrently on PostgreSQL: scans keep writing check-ins while the index builds.
def upgrade():
    online.create_index('ix_checkins_org_time_colour', 'checkins',
                        ['organization_id', 'checked_in_at', 'status_colour'])
    online.drop_index('ix_checkins_org_time', 'checkins')


def downgrade():
    online.create_index('ix_checkins_org_time', 'checkins', ['organization_id', 'checked_in_at'])
    online.drop_index('ix_checkins_org_time_colour', 'checkins')
