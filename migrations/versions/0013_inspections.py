"""assessments: an inspection's notes per criterion, findings, deadline to remedy and follow-up (issue 22, point 13)

The follow-up goes open → remedied → closed; each step records when and by whom. Self-assessments leave every
new column empty.

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-14 09:00:00

"""
import sqlalchemy as sa
from alembic import op

import backoffice.models.base

revision = '0013'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('criterion_notes', backoffice.models.base.JSONType, nullable=True))
        batch_op.add_column(sa.Column('findings', sa.String(length=4000), nullable=True))
        batch_op.add_column(sa.Column('remedy_deadline', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('follow_up', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('remedied_at', backoffice.models.base.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('remedied_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('remedy_note', sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column('closed_at', backoffice.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('closed_by_id', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            'follow_up', "follow_up IS NULL OR follow_up IN ('open', 'remedied', 'closed')")
        batch_op.create_foreign_key('fk_assessments_remedied_by_id_users', 'users', ['remedied_by_id'], ['id'],
                                    ondelete='SET NULL')
        batch_op.create_foreign_key('fk_assessments_closed_by_id_users', 'users', ['closed_by_id'], ['id'],
                                    ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.drop_constraint('fk_assessments_closed_by_id_users', type_='foreignkey')
        batch_op.drop_constraint('fk_assessments_remedied_by_id_users', type_='foreignkey')
        batch_op.drop_constraint('ck_assessments_follow_up', type_='check')
        for column in ('closed_by_id', 'closed_at', 'remedy_note', 'remedied_by_id', 'remedied_at', 'follow_up',
                       'remedy_deadline', 'findings', 'criterion_notes'):
            batch_op.drop_column(column)
