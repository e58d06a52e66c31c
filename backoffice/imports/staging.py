"""Files between preview and confirm: the checked rows of a preview (JSON lines) and the progress of a job.

Why files in a staging folder and not the ImportRecord: the record is kept for ever as history, while a
preview of 100,000 rows is tens of megabytes needed for minutes; a file is deleted as soon as the import is
applied or cancelled (and swept after a day), without bloating the database or its WAL. The uploaded file
itself is deleted as soon as its preview has been computed: only the normalised rows are kept until confirm.
Several hosts must share the folder (IMPORT_STAGING_DIR), as they share the database.
"""
from __future__ import annotations

import json
import os
import secrets
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterator

from flask import current_app

SUFFIXES = (".upload", ".rows.jsonl", ".progress.json")


def directory() -> Path:
    path = Path(current_app.config.get("IMPORT_STAGING_DIR") or Path(current_app.instance_path) / "imports")
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def new_token() -> str:
    return secrets.token_hex(16)


def path(token: str, suffix: str) -> Path:
    if not token.isalnum():  # tokens are ours, but never let one walk out of the folder
        raise ValueError("bad staging token")
    return directory() / f"{token}{suffix}"


def _json_default(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def dump_line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=_json_default) + "\n"


def read_lines(token: str) -> Iterator[dict]:
    with path(token, ".rows.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def page(token: str, status: str | None, offset: int, limit: int) -> tuple[list[dict], int]:
    """Rows `offset`…`offset+limit` of a preview, optionally of one status, and how many match.
    The status is the first field of each line, so lines outside the page are counted without parsing."""
    prefix = f'{{"s":"{status}"' if status else "{"
    rows, total = [], 0
    with path(token, ".rows.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith(prefix):
                if offset <= total < offset + limit:
                    rows.append(json.loads(line))
                total += 1
    return rows, total


def write_progress(token: str, done: int, total: int | None, phase: str) -> None:
    target = path(token, ".progress.json")
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps({"done": done, "total": total, "phase": phase, "at": time.time()}))
    os.replace(temporary, target)  # readers never see half a file


def read_progress(token: str) -> dict | None:
    try:
        return json.loads(path(token, ".progress.json").read_text())
    except (OSError, ValueError):
        return None


def exists(token: str) -> bool:
    return path(token, ".rows.jsonl").exists()


def remove(token: str, *suffixes: str) -> None:
    for suffix in suffixes or SUFFIXES:
        try:
            path(token, suffix).unlink()
        except FileNotFoundError:
            pass


def sweep(max_age_seconds: int) -> int:
    """Delete staging files older than `max_age_seconds` (previews nobody confirmed)."""
    limit, removed = time.time() - max_age_seconds, 0
    for item in directory().iterdir():
        try:
            if item.stat().st_mtime < limit:
                item.unlink()
                removed += 1
        except OSError:
            continue
    return removed
