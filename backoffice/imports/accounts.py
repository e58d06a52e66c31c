"""Administrator accounts for the organizations an import creates, and the sheet of their one-time passwords.

The sheet is sealed (Fernet, key derived from SECRET_KEY) while it waits in the ImportRecord, and erased when
downloaded: a copy of the database alone does not give the passwords away.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, insert, select

from backoffice import exports
from backoffice.auth.passwords import generate_password, hash_password
from backoffice.domain import Role
from backoffice.extensions import db
from backoffice.imports.kinds import matching
from backoffice.models import Organization, User

CHUNK = 1000


class PasswordPool:
    """One-time passwords with their argon2 hashes, computed before the import's transaction (≈0.15 s each)."""

    def __init__(self, size: int):
        self._pairs = [self._pair() for _ in range(size)]

    @staticmethod
    def _pair() -> tuple[str, str]:
        password = generate_password()
        return password, hash_password(password)

    def take(self) -> tuple[str, str]:
        return self._pairs.pop() if self._pairs else self._pair()


@dataclass
class Issued:
    tax_code: str
    organization: str
    username: str
    password: str


def create_admin_accounts(tax_codes: list[str], pool: PasswordPool, now: datetime) -> list[Issued]:
    """An organization admin account (username = tax code, password to change at first login) for each
    organization created by the import, unless that username is taken. Set-based: one insert per chunk."""
    issued: list[Issued] = []
    for start in range(0, len(tax_codes), CHUNK):
        chunk = tax_codes[start:start + CHUNK]
        orgs = db.session.execute(select(Organization.id, Organization.tax_code, Organization.name,
                                         Organization.contact_name, Organization.email)
                                  .where(matching(Organization.tax_code, chunk))).all()
        taken = set(db.session.scalars(select(func.lower(User.username)).where(
            func.lower(User.username).in_([o.tax_code for o in orgs]))))
        rows = []
        for org in orgs:
            if org.tax_code in taken:
                continue
            password, password_hash = pool.take()
            rows.append({"username": org.tax_code, "full_name": org.contact_name or org.name, "email": org.email,
                         "password_hash": password_hash, "role": Role.ORG_ADMIN.value, "organization_id": org.id,
                         "active": True, "must_change_password": True, "password_changed_at": now,
                         "created_at": now, "updated_at": now})
            issued.append(Issued(org.tax_code, org.name, org.tax_code, password))
        if rows:
            db.session.execute(insert(User), rows)
    return issued


def credentials_sheet(issued: list[Issued]) -> bytes:
    headers = [_("Tax code"), _("Organization"), _("Username"), _("One-time password")]
    rows = ([i.tax_code, i.organization, i.username, i.password] for i in issued)
    return exports.xlsx_bytes(_("Accounts"), headers, rows, widths=[16, 40, 16, 20])


def _fernet() -> Fernet:
    secret = current_app.config["SECRET_KEY"].encode()
    key = hashlib.sha256(b"backoffice.imports.credentials\0" + secret).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(data: bytes) -> bytes:
    return _fernet().encrypt(data)


def unseal(data: Any) -> bytes:
    return _fernet().decrypt(bytes(data))
