"""Per-response security headers, with a per-request CSP nonce for the few inline scripts."""
from __future__ import annotations

import secrets

from flask import Flask, Response, g, session


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


_STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}
_CSP = ("default-src 'self'; script-src {script_src}; style-src {style_src}; "
        "img-src 'self' data: blob:; media-src 'self' blob: data:; connect-src 'self'; font-src 'self'; "
        "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def _add_headers(response: Response) -> Response:
    """The headers a view did not set itself (one pass over the response's headers, not one per header)."""
    present = {name.lower() for name in response.headers.keys()}
    if "content-security-policy" not in present:
        nonce = g.get("csp_nonce")
        source = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
        # No 'unsafe-inline' for styles either: an injected style="" or <style> cannot restyle (or exfiltrate
        # through CSS selectors) a page; the few <style> blocks carry the nonce.
        response.headers.add("Content-Security-Policy", _CSP.format(script_src=source, style_src=source))
    for name, value in _STATIC_HEADERS.items():
        if name.lower() not in present:
            response.headers.add(name, value)
    if "cache-control" not in present and _private(response):
        response.headers.add("Cache-Control", "no-store")
    return response


def _private(response: Response) -> bool:
    """Pages, JSON, and anything answered to a logged-in user (QR images, charts, files: all scoped data of
    persons or organizations) must not stay in a browser's or a proxy's cache. Static files set their own
    Cache-Control and so never reach here."""
    return response.mimetype in ("text/html", "application/json") or "_user_id" in session


def init_app(app: Flask) -> None:
    app.after_request(_add_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
