"""Credential formats, each a reader behind one small interface (`base.Reader`: text → a `Credential` or a
`ScanRejected` reason): our signed personal QR (`signed`) and the national 1405 text (`national`). A new format
is one module with its reader, added to `READERS`.

`parse_scan_text` is the one front door: it refuses what no format could be (nothing, too long, control
characters), then hands the text to the first reader that recognises it; no reader → `unknown_prefix`. The
codes are stable (API clients and tests rely on them), the messages in the user's language.
"""
from __future__ import annotations

import re
from datetime import datetime

from backoffice.scanning.credentials import national, signed
from backoffice.scanning.credentials.base import MAX_TEXT, Credential, Reader
from backoffice.scanning.rejections import ScanRejected
from backoffice.timeutil import now_utc

# Tried in order; a text is read by the first that recognises it.
READERS: tuple[Reader, ...] = (signed.READER, national.READER)

_CONTROL_RE = re.compile(r"[\x00-\x1f]")


def parse_scan_text(text: str, *, now: datetime | None = None) -> Credential:
    """Parse (and for ours, verify) what a scanner read; raise ScanRejected for anything else."""
    if text is None:
        raise ScanRejected("empty")
    if len(text) > MAX_TEXT:
        raise ScanRejected("too_long")
    # Keyboard-wedge scanners end with Enter (sometimes CR LF or a tab); nothing else is trimmed.
    text = text.strip(" \r\n\t")
    if not text:
        raise ScanRejected("empty")
    if _CONTROL_RE.search(text):
        raise ScanRejected("malformed")
    now = now or now_utc()
    for reader in READERS:
        if reader.recognises(text):
            return reader.read(text, now=now)
    raise ScanRejected("unknown_prefix")


__all__ = ["Credential", "MAX_TEXT", "READERS", "Reader", "parse_scan_text"]
