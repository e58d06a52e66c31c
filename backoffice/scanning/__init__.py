"""Scanning: a QR text becomes a verified credential, a person's status at the scan time and a check-in.

`credentials` reads each credential format (a reader per format: `signed`, verified with the `keyring`'s keys,
and the national `national`), `rejections` says why a scan is refused, `payload` gathers their long-used names,
`decode` reads a photo, `service` records a scan (one transaction: resolve, decide, check in, audit),
`device_scans` is a scanning device's scan, `checkins` checks out and purges, `devices` and `limits` guard the
API's scanning devices, `reception` and `self_checkin` are the pages that scan,
`admin` and `keys_views` the back office's lists, `cli` the commands.
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from backoffice.scanning import admin, cli, keys_views, reception, self_checkin

    app.config.setdefault("BACKOFFICE_KEY_CACHE_SECONDS", 30)
    cli.init_app(app)
    for part in (reception, admin, self_checkin, keys_views):
        part.init_app(app)
