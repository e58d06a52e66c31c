"""merge the privacy issue's branches: staff links (0003), trace referrals (0004), read audit (0006),
accounts and signing keys (0008), vaccine vocabulary (0009)

Revision ID: 0010
Revises: 0003, 0004, 0006, 0008, 0009
Create Date: 2026-12-03 08:40:00

"""
revision = '0010'
down_revision = ('0003', '0004', '0006', '0008', '0009')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
