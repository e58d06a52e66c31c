"""A scanning device's scan: the one operation behind `POST /api/v1/scans` (and, from a decoded photo, behind
`POST /api/v1/scans/image`), run on a connection of its own (`database.scan_connection()`).

The hot path of the application. Its statements are built once, at import, with bind parameters, and run on
PostgreSQL straight on the driver (`database.HotStatement`): the device token joined to its checkpoint,
location, organization and to the person the text names (`scanning.devices`), then the check-in and its
audited read in one statement (`scanning.service`). Two round trips per scan on PostgreSQL, a minute's
`last_used_at` write aside.

The person is looked up in the token's query by the reference the text carries, read without verifying
(`peek_person_ref`); the text is then read again, and verified, by `record_scan`, which uses the person read
only if the verified credential names that very reference. Decoding twice is the price of the joined read, and
it is kept: the decode took 5.5 µs (17 µs on a loaded machine) against 207 µs for reading the text with its
signature check, and a whole scan 4-10 ms; on PostgreSQL the joined read spares a round trip (best of five
runs on a loaded machine: 4.2-8.5 ms a scan joined, 10.4 ms with the person read apart); on SQLite, where
there are no round trips, the two were within noise (6.9-7.0 ms against 6.1 ms). bench/bench_device_scan.py
measures all of these.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy.engine import Connection

from backoffice.database import scan_connection
from backoffice.health.status import scan_day
from backoffice.scanning.credentials.signed import peek_person_ref
from backoffice.scanning.devices import DeviceAuth, authenticate_device
from backoffice.scanning.rejections import ScanRejected
from backoffice.scanning.service import ScanResult, record_scan, reject
from backoffice.timeutil import now_utc


def check_checkpoint(device: DeviceAuth, method: str, given: object) -> None:
    """A checkpoint the client names (optional) must be its token's: else rejected as unknown, audited."""
    if given in (None, ""):
        return
    try:
        if int(given) == device.checkpoint_id:
            return
    except (TypeError, ValueError, OverflowError):  # not a number, or an infinite one (JSON's Infinity)
        pass
    reject("unknown_checkpoint", method=method, device_token=device, entity_id=str(given)[:32])


def record_device_scan(secret: str | None, text: object, *, checkpoint: object = None,
                       now: datetime | None = None) -> ScanResult:
    """Record what a device scanned (`text`, as the client sent it: anything not a string is a bad request) at
    its token's checkpoint. `secret`: the bearer token; `checkpoint`: the id the client names, if any.
    Rejections raise `ScanRejected`, audited, in the order a client can fix them: token, request, checkpoint,
    then the scan itself."""
    now = now or now_utc()
    with scan_connection() as connection:
        device = authenticate_device(secret, person_ref=peek_person_ref(text), day=scan_day(now),
                                     connection=connection)
        if not isinstance(text, str):
            reject("bad_request", method="device", device_token=device, detail="payload")
        check_checkpoint(device, "device", checkpoint)
        return _record(text, device, "device", connection, now)


def record_device_image_scan(secret: str | None, read_request: Callable[[], tuple[bytes, object]]) -> ScanResult:
    """Record the QR code a device photographed. `read_request()` gives the image's bytes and the checkpoint the
    client names, read only once the token is known to be good (an unauthenticated upload is never parsed)."""
    from backoffice.scanning.decode import decode_image
    with scan_connection() as connection:
        device = authenticate_device(secret, method="image", connection=connection)
        data, checkpoint = read_request()
        check_checkpoint(device, "image", checkpoint)
        try:
            text = decode_image(data)
        except ScanRejected as exc:
            reject(exc.code, method="image", device_token=device, entity_id=device.checkpoint_id, size=len(data))
        return _record(text, device, "image", connection)


def _record(text: str, device: DeviceAuth, method: str, connection: Connection,
            now: datetime | None = None) -> ScanResult:
    return record_scan(text, point=device.point, method=method, device_token=device, now=now,
                       prefetched=device.prefetched, connection=connection)
