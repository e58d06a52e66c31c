"""Personal QR payloads, under the names the rest of the application has long imported them by.

The formats live in `scanning.credentials` (one reader each: `signed` for ours, `national` for the 1405 text),
the reasons a scan is refused in `scanning.rejections`; this module only gathers their public names.
"""
from __future__ import annotations

from backoffice.scanning.credentials import MAX_TEXT, Credential, parse_scan_text
from backoffice.scanning.credentials.national import normalise_name
from backoffice.scanning.credentials.signed import PREFIX, SIGNATURE_LEN, issue_personal_payload, peek_person_ref
from backoffice.scanning.rejections import ADVICE, ADVICE_OTHERWISE, REASONS, ScanRejected, advice_for

ParsedPayload = Credential  # the name record_scan's callers know a read credential by

__all__ = ["ADVICE", "ADVICE_OTHERWISE", "MAX_TEXT", "PREFIX", "REASONS", "SIGNATURE_LEN", "Credential",
           "ParsedPayload", "ScanRejected", "advice_for", "issue_personal_payload", "normalise_name",
           "parse_scan_text", "peek_person_ref"]
