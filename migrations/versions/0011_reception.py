"""reception (issue 22, points 3, 6, 7, 15): organizations' black-visitor policy and black-screen instruction;
check-ins admitted or refused at the door, and their health reason as the rule's outcome and values (rendered in
the reader's language); persons declared at a checkpoint, not in the registry

Existing check-ins were all stays (admitted) and keep their reason text as stored (no outcome: shown as stored).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-12 09:00:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('admit_black', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('black_instruction', sa.String(length=160), nullable=True))
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('declared_at_checkpoint', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.add_column(sa.Column('admitted', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('status_outcome', sa.String(length=32), server_default='', nullable=False))
        batch_op.add_column(sa.Column('status_params', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'),
                                      nullable=True))


def downgrade():
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.drop_column('status_params')
        batch_op.drop_column('status_outcome')
        batch_op.drop_column('admitted')
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_column('declared_at_checkpoint')
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('black_instruction')
        batch_op.drop_column('admit_black')
