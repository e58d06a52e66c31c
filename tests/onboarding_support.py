"""A brand-new organization with its admin, for the first-steps tests (unit and browser)."""
from __future__ import annotations

import secrets

from backoffice.auth.passwords import hash_password
from backoffice.demo.seed import BEN_NGHE
from backoffice.extensions import db
from backoffice.models import Organization, User
from backoffice.models.base import utcnow
from foundation_support import new_tax_code

PASSWORD = "demo-2021"


def new_organization(app) -> tuple[int, str]:
    """An approved organization in Bến Nghé with no location, checkpoint, poster or assessment; its admin's
    username (password PASSWORD)."""
    suffix = secrets.token_hex(3)
    with app.app_context():
        org = Organization(name=f"Tiệm bánh mới {suffix}", tax_code=new_tax_code(), sector="food_service",
                           address="3 Hồ Tùng Mậu", ward_code=BEN_NGHE, district_code=760, status="active",
                           decided_at=utcnow())
        db.session.add(org)
        db.session.flush()
        username = f"new.{suffix}"
        db.session.add(User(username=username, full_name="Chủ tiệm", password_hash=hash_password(PASSWORD),
                            role="org_admin", organization_id=org.id, active=True, must_change_password=False))
        db.session.commit()
        return org.id, username
