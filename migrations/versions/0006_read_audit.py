"""audit: person_reads, which residents each audit entry showed (reads audited for the residents' portal)

Revision ID: 0006
Revises: 0002
Create Date: 2026-12-10 09:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('person_reads',
    sa.Column('person_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('audit_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.ForeignKeyConstraint(['audit_id'], ['audit_log.id'], name=op.f('fk_person_reads_audit_id_audit_log'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('person_id', 'audit_id', name=op.f('pk_person_reads'))
    )
    with op.batch_alter_table('person_reads', schema=None) as batch_op:
        batch_op.create_index('ix_person_reads_audit_id', ['audit_id'], unique=False)


def downgrade():
    with op.batch_alter_table('person_reads', schema=None) as batch_op:
        batch_op.drop_index('ix_person_reads_audit_id')
    op.drop_table('person_reads')
