"""Per-response security headers, with a per-request CSP nonce for the few inline scripts."""
from __future__ import annotations

import secrets

from flask import Flask, Response, g


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
_CSP = ("default-src 'self'; script-src {script_src}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; media-src 'self' blob: data:; connect-src 'self'; font-src 'self'; "
        "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def _add_headers(response: Response) -> Response:
    """The headers a view did not set itself (one pass over the response's headers, not one per header)."""
    present = {name.lower() for name in response.headers.keys()}
    if "content-security-policy" not in present:
        nonce = g.get("csp_nonce")
        response.headers.add("Content-Security-Policy", _CSP.format(
            script_src=f"'self' 'nonce-{nonce}'" if nonce else "'self'"))
    for name, value in _STATIC_HEADERS.items():
        if name.lower() not in present:
            response.headers.add(name, value)
    if "cache-control" not in present and response.mimetype == "text/html":
        response.headers.add("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    app.after_request(_add_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
