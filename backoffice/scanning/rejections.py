"""Why a scan is refused: the stable reason codes, each with its HTTP status, the message for the scanner's
user, and what the person at reception does next. One table for the API, the reception page, the self check-in
page and the audit log; every credential reader and every step of recording a scan raises `ScanRejected`
with one of these codes.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from backoffice.errors import DomainError

# Reason codes → (HTTP status, message). One table for the API, the reception page and the audit log.
REASONS: dict[str, tuple[int, object]] = {
    "empty": (422, _l("Nothing was scanned.")),
    "too_long": (422, _l("The scanned text is too long to be a personal QR code.")),
    "malformed": (422, _l("The QR code could not be read: its content is damaged or incomplete.")),
    "unknown_prefix": (422, _l("This is not a personal QR code this system knows.")),
    "bad_signature": (422, _l("The QR code's signature is not valid: it was altered or forged.")),
    "unknown_key": (422, _l("The QR code was signed with a key this system does not know.")),
    "retired_key": (422, _l("The QR code was signed with a key that has been withdrawn. Print a new card.")),
    "not_in_future": (422, _l("The QR code's issue time is in the future.")),
    "unknown_person": (422, _l("This person is not in the registry.")),
    # One code and one message whichever of ID number, name and date of birth differs: the answer must not tell
    # someone guessing which of the three they got right.
    "identity_mismatch": (422, _l("The ID number, name and date of birth do not match the registry together.")),
    "national_invalid": (422, _l("The national QR text is not valid: %(detail)s")),
    "unknown_checkpoint": (404, _l("This checkpoint does not exist or is not yours.")),
    "checkpoint_inactive": (409, _l("This checkpoint is deactivated.")),
    "revoked_location": (410, _l("This location's QR code has been revoked.")),
    "not_exit_stay": (409, _l("This person has no open check-in here.")),
    "bad_token": (401, _l("The device token is wrong.")),
    "revoked_token": (401, _l("The device token has been revoked.")),
    "not_image": (415, _l("The file is not an image (JPEG, PNG, WebP, GIF, BMP or TIFF).")),
    "truncated_image": (422, _l("The image is truncated or damaged.")),
    "image_too_large": (413, _l("The image is too large.")),
    "body_too_large": (413, _l("The request is too large.")),
    "no_image": (400, _l("No image was sent.")),
    "no_qr": (422, _l("No QR code was found in the image.")),
    "several_qr": (422, _l("The image contains several QR codes: photograph one at a time.")),
    "bad_request": (400, _l("The request is missing a field or has a wrong one: %(detail)s")),
}


# What the person at reception does next, per code: staff read this, never the code. A code
# without its own sentence (one added elsewhere, e.g. the decoder's) gets the general one.
ADVICE: dict[str, object] = {
    "empty": _l("Nothing was read — scan the code again."),
    "too_long": _l("This is not a personal QR code — ask the visitor to show their personal QR code."),
    "malformed": _l("The QR code cannot be read — ask the visitor to open the code on their phone again."),
    "unknown_prefix": _l("This is not a personal QR code — ask the visitor to open their personal QR code "
                         "(PC-Covid or the city's card)."),
    "bad_signature": _l("The QR code is not genuine — ask for the visitor's ID card and their personal QR code."),
    "unknown_key": _l("The code is not from this city's system — ask the visitor for their national QR code "
                      "(PC-Covid)."),
    "retired_key": _l("The card is out of date — the visitor asks their ward for a new card; scan the national "
                      "QR code (PC-Covid) meanwhile."),
    "not_in_future": _l("The QR code's date is wrong — ask the visitor to open the code again."),
    "unknown_person": _l("The code is not recognised — ask the visitor for their national QR code (PC-Covid)."),
    "identity_mismatch": _l("The details do not match — check the visitor's ID card; ask them to open the QR "
                            "code again."),
    "national_invalid": _l("The QR code is incomplete — ask the visitor to open the code on their phone again."),
    "unknown_checkpoint": _l("This checkpoint is not yours — choose your checkpoint above and scan again."),
    "checkpoint_inactive": _l("This checkpoint is switched off — ask your organization administrator."),
    "revoked_location": _l("This location no longer takes check-ins — ask your organization administrator."),
    "not_image": _l("Take a photo of the QR code and send it again."),
    "truncated_image": _l("The photo did not arrive whole — take it again."),
    "image_too_large": _l("The photo is too large — take it again, closer to the code."),
    "body_too_large": _l("The photo is too large — take it again, closer to the code."),
    "no_image": _l("Take a photo of the QR code and send it again."),
    "no_qr": _l("No QR code in the photo — take it again, with the whole code in the picture."),
    "several_qr": _l("Several QR codes in the photo — take one code at a time."),
    "bad_request": _l("The page was interrupted — reload it and scan again."),
    "rate_limited": _l("Too many scans at once — wait a minute, then scan again."),
}
ADVICE_OTHERWISE = _l("The scan was not accepted — scan again; if it keeps failing, ask your organization "
                      "administrator.")


def advice_for(code: str) -> str:
    """The sentence staff read for a rejection code."""
    return str(ADVICE.get(code, ADVICE_OTHERWISE))


class ScanRejected(DomainError):
    """A scan that cannot be accepted: a domain error whose status and message the table above gives for its
    code. `code` is stable; `message` is translated when read. The API and the reception pages answer it in
    their own JSON (the reception's with the advice); anywhere else `errors.answer` does, like any other."""

    def __init__(self, code: str, detail: str = "", **audit_details: object):
        # Not DomainError.__init__: the message is drawn from REASONS when read (in the reader's language).
        Exception.__init__(self, code)
        if code not in REASONS:
            raise KeyError(f"unknown scan rejection code {code!r}")
        self.code = code
        self.detail = detail
        self.audit_details = audit_details

    @property  # type: ignore[override]
    def status(self) -> int:
        return REASONS[self.code][0]

    @property  # type: ignore[override]
    def message(self) -> str:
        template = str(REASONS[self.code][1])
        return template.replace("%(detail)s", str(self.detail)) if "%(detail)s" in template else template

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
