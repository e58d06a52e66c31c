"""Operations of the import: receive a file, preview it, apply it (one transaction), cancel it, hand over the
one-time passwords. Called by the admin wizard and the CLI alike; each writes the audit log."""
from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import IO, Any, Callable

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from backoffice import audit
from backoffice.auth.scope import scope
from backoffice.errors import OutOfRole, Refused
from backoffice.extensions import db
from backoffice.imports import accounts, engine, reader, staging
from backoffice.imports.kinds import Kind, kind_for
from backoffice.models import ImportRecord, User
from backoffice.models.base import utcnow

log = logging.getLogger(__name__)

READING, PREVIEWED, APPLYING, APPLIED = "reading", "previewed", "applying", "applied"
REJECTED, FAILED, CANCELLED = "rejected", "failed", "cancelled"
RUNNING = (READING, APPLYING)
Progress = Callable[[int, int | None, str], None]


class ImportRefused(Refused):
    """A request the import cannot meet; the message is for the user."""


def setting(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


def limits() -> reader.Limits:
    return reader.Limits(max_bytes=setting("IMPORT_MAX_BYTES", 20 * 2**20),
                         max_uncompressed=setting("IMPORT_MAX_UNCOMPRESSED", 400 * 2**20),
                         max_rows=setting("IMPORT_MAX_ROWS", 200_000))


def _actor(user: Any) -> dict:
    return {"actor": user} if isinstance(user, User) else {"actor_name": getattr(user, "username", "cli")}


def receive(user: Any, kind_name: str, stream: IO[bytes], filename: str) -> ImportRecord:
    """Store an upload in staging and create its ImportRecord (state `reading`). PermissionError when the
    user's role may not run this kind of import."""
    kind = kind_for(kind_name, user)
    staging.sweep(setting("IMPORT_STAGING_TTL", 24 * 3600))
    token = staging.new_token()
    target = staging.path(token, ".upload")
    digest, size, cap = hashlib.sha256(), 0, limits().max_bytes
    with target.open("wb") as out:
        while block := stream.read(1 << 16):
            size += len(block)
            if size > cap:
                out.close()
                staging.remove(token)
                raise ImportRefused(_("The file is larger than the limit of %(limit)d MB.", limit=cap // 2**20))
            digest.update(block)
            out.write(block)
    # Shown and stored, never used as a path; no NUL or control characters (PostgreSQL refuses NUL in text).
    name = "".join(c for c in Path(filename or "upload").name if c.isprintable())[:255] or "upload"
    record = ImportRecord(kind=kind_name, filename=name, file_sha256=digest.hexdigest(), state=READING,
                          options={"token": token, "size": size}, counts={},
                          created_by_id=getattr(user, "id", None), created_at=utcnow(),
                          **kind.record_scope())
    db.session.add(record)
    db.session.commit()
    return record


def receive_path(user: Any, kind_name: str, source: Path) -> ImportRecord:
    with source.open("rb") as stream:
        return receive(user, kind_name, stream, source.name)


def run_preview(record: ImportRecord, user: Any, progress: Progress | None = None) -> ImportRecord:
    """Read and check the file (a dry run); the uploaded file is deleted once its rows are staged."""
    token = record.options["token"]
    kind = kind_for(record.kind, user)
    report = _reporter(token, progress)
    try:
        result = engine.preview(staging.path(token, ".upload"), record.filename, kind, token, limits(),
                                setting("IMPORT_CHUNK_SIZE", 2000), report)
    except reader.FileRejected as exc:
        db.session.rollback()
        staging.remove(token)
        return _finish(record.id, REJECTED, str(exc))
    except MemoryError:  # the worker's memory limit (jobs.py): the file, not the server
        db.session.rollback()
        staging.remove(token)
        return _finish(record.id, FAILED, out_of_memory_message())
    except Exception:
        log.exception("import %s: preview failed", record.id)
        db.session.rollback()
        staging.remove(token)
        return _finish(record.id, FAILED, _("The file could not be read. The error has been logged."))
    finally:
        staging.remove(token, ".upload")
    record = db.session.get(ImportRecord, record.id)
    record.state, record.counts = PREVIEWED, result.counts
    record.options = {**record.options, "sheet": result.sheet, "header_row": result.header_row,
                      "matched": result.matched, "ignored": result.ignored}
    record.error_report = result.error_report
    audit.record("import.preview", entity_name="import_records", entity_id=record.id,
                 after={"kind": record.kind, "file": record.filename, "counts": result.counts},
                 organization_id=record.organization_id, district_code=record.district_code, **_actor(user))
    db.session.commit()
    return record


def _reporter(token: str, progress: Progress | None) -> Progress:
    last = [0.0]

    def report(done: int, total: int | None, phase: str) -> None:
        if progress:
            progress(done, total, phase)
        if time.monotonic() - last[0] > 0.5:  # the wizard polls; no need to write the file more often
            staging.write_progress(token, done, total, phase)
            last[0] = time.monotonic()

    return report


def _finish(record_id: int, state: str, message: str) -> ImportRecord:
    record = db.session.get(ImportRecord, record_id)
    record.state = state
    record.options = {**record.options, "message": message}
    db.session.commit()
    return record


def out_of_memory_message() -> str:
    return _("Nothing was imported: reading this file needed more memory than an import may use. Split it into "
             "smaller files.")


def fail_unfinished(record_id: int, message: str) -> ImportRecord | None:
    """Mark failed an import whose job ended without finishing it (its process was killed or ran out of
    memory): its transaction never committed, so only the record and the staging files are left to clean."""
    record = db.session.get(ImportRecord, record_id)
    if record is None or record.state not in RUNNING:
        return record
    staging.remove(record.options.get("token", ""))
    return _finish(record_id, FAILED, message)


def _check_owner(record: ImportRecord, user: Any, verb: str) -> None:
    """Only who uploaded the file may confirm, cancel or collect its passwords: OutOfRole (a PermissionError)."""
    if record.created_by_id != getattr(user, "id", None):
        raise OutOfRole(code=f"imports.{verb}.not_creator")


def confirm(record: ImportRecord, user: Any, *, skip_errors: bool, create_accounts: bool = False) -> ImportRecord:
    """Accept a preview: state `applying`; the caller then runs `run_apply` (now or in the background)."""
    _check_owner(record, user, "confirm")
    if record.state != PREVIEWED:
        raise ImportRefused(_("This import is not waiting for confirmation."))
    if not staging.exists(record.options["token"]):
        _finish(record.id, FAILED, _("The preview has expired; upload the file again."))
        raise ImportRefused(_("The preview has expired; upload the file again."))
    counts = record.counts
    if counts.get("error") and not skip_errors:
        raise ImportRefused(_("%(n)d rows have errors. Correct them and upload the file again, or choose to "
                              "skip the rows with errors.", n=counts["error"]))
    if not (counts.get("new") or counts.get("update")):
        raise ImportRefused(_("There is nothing to import: no row is new or changed."))
    if create_accounts:
        if record.kind != "organizations":
            raise ImportRefused(_("Accounts can only be created for organizations."))
        cap = setting("IMPORT_MAX_ACCOUNTS", 1000)
        if counts.get("new", 0) > cap:
            raise ImportRefused(_("This import would create %(n)d accounts; at most %(cap)d can be created at "
                                  "once. Import without accounts, or in smaller files.", n=counts["new"], cap=cap))
    record.state = APPLYING
    record.options = {**record.options, "skip_errors": skip_errors, "create_accounts": create_accounts,
                      "confirmed_at": utcnow().isoformat()}
    db.session.commit()
    staging.write_progress(record.options["token"], 0, counts.get("new", 0) + counts.get("update", 0), "writing")
    return record


def run_apply(record: ImportRecord, user: Any, progress: Progress | None = None) -> ImportRecord:
    """Apply a confirmed import in ONE transaction: every accepted row, the accounts, the record and the
    audit entry commit together, or nothing does."""
    record_id, options = record.id, dict(record.options)
    token = options["token"]
    kind: Kind = kind_for(record.kind, user)
    preview_counts = dict(record.counts)
    # argon2 is deliberately slow (~0.15 s a hash): hash before the transaction takes any write lock.
    pool = accounts.PasswordPool(preview_counts.get("new", 0) if options.get("create_accounts") else 0)
    db.session.commit()  # end the read transaction the hashing waited in, so the writes start fresh
    report = _reporter(token, progress)
    total = sum(preview_counts.values())
    try:
        now = utcnow()
        counts, created = engine.apply(kind, token, bool(options.get("skip_errors")),
                                       setting("IMPORT_CHUNK_SIZE", 2000), now, report, total)
        issued = accounts.create_admin_accounts(created, pool, now) if options.get("create_accounts") else []
        record = db.session.get(ImportRecord, record_id)
        record.state, record.applied_at = APPLIED, now
        record.counts = {**counts, "accounts": len(issued), "preview": preview_counts}
        if issued:
            record.credentials_report = accounts.seal(accounts.credentials_sheet(issued))
        audit.record("import.apply", entity_name="import_records", entity_id=record_id,
                     after={"kind": record.kind, "file": record.filename, "counts": counts,
                            "accounts_created": len(issued), "skip_errors": bool(options.get("skip_errors"))},
                     organization_id=record.organization_id, district_code=record.district_code, **_actor(user))
        db.session.commit()
    except engine.Blocked as exc:
        db.session.rollback()
        record = _finish(record_id, REJECTED, _("Nothing was imported. %(reason)s", reason=str(exc)))
    except MemoryError:
        db.session.rollback()
        record = _finish(record_id, FAILED, out_of_memory_message())
    except Exception:
        log.exception("import %s: apply failed", record_id)
        db.session.rollback()
        record = _finish(record_id, FAILED, _("Nothing was imported: an unexpected error occurred and has "
                                              "been logged."))
    finally:
        staging.remove(token)
    return record


def cancel(record: ImportRecord, user: Any) -> ImportRecord:
    _check_owner(record, user, "cancel")
    if record.state not in (READING, PREVIEWED) and effective_state(record) != FAILED:
        raise ImportRefused(_("This import can no longer be cancelled."))
    staging.remove(record.options.get("token", ""))
    audit.record("import.cancel", entity_name="import_records", entity_id=record.id,
                 organization_id=record.organization_id, district_code=record.district_code, **_actor(user))
    return _finish(record.id, CANCELLED, _("Cancelled."))


def effective_state(record: ImportRecord) -> str:
    """The state, with a job that stopped reporting progress (its process died) shown as failed: its
    transaction never committed, so nothing of it is in the database."""
    if record.state not in RUNNING:
        return record.state
    progress = staging.read_progress(record.options.get("token", ""))
    last = progress["at"] if progress else record.created_at.timestamp()
    return FAILED if time.time() - last > setting("IMPORT_STALL_SECONDS", 600) else record.state


def progress_of(record: ImportRecord) -> dict:
    progress = staging.read_progress(record.options.get("token", "")) or {}
    return {"state": effective_state(record), "done": progress.get("done", 0), "total": progress.get("total"),
            "phase": progress.get("phase", record.state)}


def take_credentials(record: ImportRecord, user: Any) -> bytes | None:
    """The one-time password sheet, once: it is erased from the database as it is handed over."""
    _check_owner(record, user, "credentials")
    sealed = db.session.scalar(select(ImportRecord.credentials_report).where(ImportRecord.id == record.id))
    if sealed is None:
        return None
    erased = db.session.execute(update(ImportRecord).where(ImportRecord.id == record.id,
                                                           ImportRecord.credentials_report.is_not(None))
                                .values(credentials_report=None))
    if erased.rowcount != 1:  # someone else took it between the two statements
        db.session.rollback()
        return None
    audit.record("import.credentials_downloaded", entity_name="import_records", entity_id=record.id,
                 organization_id=record.organization_id, district_code=record.district_code, **_actor(user))
    db.session.commit()
    return accounts.unseal(sealed)


def history(user: Any, kind_name: str, page: int = 1, per_page: int = 20) -> tuple[list[ImportRecord], int]:
    stmt = scope(select(ImportRecord), user, ImportRecord).where(ImportRecord.kind == kind_name)
    total = db.session.scalar(select(db.func.count()).select_from(stmt.subquery()))
    rows = db.session.scalars(stmt.order_by(ImportRecord.created_at.desc(), ImportRecord.id.desc())
                              .offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), total


def get(record_id: int, user: Any) -> ImportRecord | None:
    """An import record the user may see (scope), or None."""
    return db.session.scalar(scope(select(ImportRecord), user, ImportRecord).where(ImportRecord.id == record_id))

