"""A request id follows each request: taken from the proxy's `X-Request-ID` when it is a plain token (so one id
crosses the balancer, the app and its logs), made otherwise, sent back in the response header and written in
every log line the request causes (`%(request_id)s`; "-" outside a request)."""
from __future__ import annotations

import logging
import re
import secrets

from flask import Flask, g, has_request_context, request
from werkzeug.wrappers import Response

HEADER = "X-Request-ID"
# Anything else a client sends is replaced: an id is copied into logs, so it must not carry newlines, spaces or
# markup, nor be long enough to bloat every line.
_WELL_FORMED = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
LOG_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def current() -> str:
    """The id of the request being served, or "-"."""
    if has_request_context():
        return getattr(g, "request_id", None) or "-"
    return "-"


def _take_or_make() -> None:
    given = request.headers.get(HEADER, "")
    g.request_id = given if _WELL_FORMED.match(given) else secrets.token_hex(16)


def _send_back(response: Response) -> Response:
    response.headers[HEADER] = current()
    return response


_factory_installed = False


def _install_record_factory() -> None:
    """Every log record gets `request_id`, whichever logger made it (the app's, SQLAlchemy's, a library's), so
    a format naming it never fails on a record from outside the app."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = current()
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


def init_app(app: Flask) -> None:
    _install_record_factory()
    app.before_request(_take_or_make)
    app.after_request(_send_back)
    # The package's own lines carry the id; a host that configured logging itself keeps its handlers.
    package_log = logging.getLogger("backoffice")
    if not package_log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        package_log.addHandler(handler)
        package_log.setLevel(logging.INFO)
