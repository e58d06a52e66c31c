"""staff: links to the registry are proved (signed scan or ward confirmation) and recorded: how, when, by whom

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:00:00

"""
import sqlalchemy as sa
from alembic import op

import backoffice.models.base
from backoffice import online_migrations as online

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link_method', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('linked_at', backoffice.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('linked_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('link_rejected_at', backoffice.models.base.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_check_constraint(
            'link_method', "link_method IS NULL OR link_method IN ('signed_scan', 'ward')")
    online.create_index('ix_staff_id_number', 'staff', ['id_number'])
    # Links made before proof was required (an ID number typed or imported) are dropped: they were never proved.
    op.execute("UPDATE staff SET person_id = NULL WHERE person_id IS NOT NULL")


def downgrade():
    online.drop_index('ix_staff_id_number', 'staff')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_constraint('ck_staff_link_method', type_='check')
        batch_op.drop_column('link_rejected_at')
        batch_op.drop_column('linked_by_id')
        batch_op.drop_column('linked_at')
        batch_op.drop_column('link_method')
