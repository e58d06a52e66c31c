"""What every credential reader gives and what it is: the small interface behind which each format lives.

A reader recognises its format from the text alone (`recognises`, cheap, no verification) and reads it into a
`Credential` (`read`): verified when the format is signed, matched against the registry later when it is not.
A text it cannot accept raises `ScanRejected` with the reason code. The credential carries what the scan needs
to find the person (our reference, or the identity a national text declares) and the snapshot a signed format
may carry; the health rules always decide from the registry's records of the person found.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

MAX_TEXT = 1024  # longer than any credential text we or the 1405 format produce


@dataclass(frozen=True)
class Credential:
    """A credential as its reader read it: who it names, and for a signed one, how it was signed."""

    kind: str  # the reader's: "signed" (ours) or "national" (1405)
    signed: bool
    qr_ref: str | None = None
    kid: str | None = None
    issued_at: datetime | None = None
    status_colour: str | None = None
    status_expires_at: datetime | None = None
    # national 1405 fields
    id_number: str | None = None
    full_name: str | None = None
    birth_date: str | None = None
    id_declared: str | None = None  # LoaiDinhDanh: 0 by the person, 1 on their behalf
    qid: str | None = None
    ext: str | None = None


class Reader(Protocol):
    """One credential format. `kind` names it in the credential and the audit log."""

    kind: str

    def recognises(self, text: str) -> bool:
        """This text is of the reader's format (trimmed, non-empty, no control characters): it alone reads it."""

    def read(self, text: str, *, now: datetime) -> Credential:
        """The credential the text carries, verified as far as the format allows; `ScanRejected` otherwise."""
