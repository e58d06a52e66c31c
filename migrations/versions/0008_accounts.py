"""signing keys: a rotated-in key is published at once and signs from `signs_from` (or the next rotation)

Revision ID: 0008
Revises: 0002
Create Date: 2026-12-10 09:00:00

"""
import sqlalchemy as sa
from alembic import op

import backoffice.models.base

revision = '0008'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signs_from', backoffice.models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.drop_column('signs_from')
