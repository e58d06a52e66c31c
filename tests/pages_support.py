"""Pages as a browser reads them: forms and their fields, field errors and alerts, CSV downloads; acting as a
user outside a request, clients isolated per request, a second app with other settings, the Vietnamese text of a
msgid, and the rows a user may (or may not) reach through an admin view."""
from __future__ import annotations

import contextlib
import csv
import io
from html.parser import HTMLParser
from typing import Any, Iterator

from flask import Flask, g
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from backoffice.extensions import db


class _FormParser(HTMLParser):
    """Collects every <form> with the (name, value) pairs a browser would submit, plus every <option>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._select: dict[str, Any] | None = None
        self._option: dict[str, Any] | None = None
        self._textarea: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get").lower(), "fields": [],
                          "options": {}, "attrs": a}
            self.forms.append(self._form)
        if self._form is None:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self._form["fields"].append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and a.get("name"):
            self._select = {"name": a["name"], "multiple": "multiple" in a, "selected": [], "first": None,
                            "data": a}
            self._form["options"][a["name"]] = []
        elif tag == "option" and self._select is not None:
            self._option = {"value": a.get("value"), "selected": "selected" in a, "text": ""}
        elif tag == "textarea" and a.get("name"):
            self._textarea = {"name": a["name"], "text": ""}

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self._option["text"] += data
        if self._textarea is not None:
            self._textarea["text"] += data

    def _close_option(self) -> None:
        if self._option is None or self._select is None:
            return
        value = self._option["value"] if self._option["value"] is not None else self._option["text"].strip()
        self._form["options"][self._select["name"]].append((value, self._option["text"].strip()))
        if self._select["first"] is None:
            self._select["first"] = value
        if self._option["selected"]:
            self._select["selected"].append(value)
        self._option = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "option":
            self._close_option()
        elif tag == "select" and self._select is not None:
            self._close_option()
            s = self._select
            values = s["selected"] or ([] if s["multiple"] or s["first"] is None else [s["first"]])
            # A select2 ajax field renders as an <input>; a plain select submits its selection.
            for value in values:
                self._form["fields"].append((s["name"], value))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            text = self._textarea["text"]
            self._form["fields"].append((self._textarea["name"], text[1:] if text.startswith("\n") else text))
            self._textarea = None
        elif tag == "form":
            self._form = None


def forms(html: str) -> list[dict[str, Any]]:
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


def model_form(html: str) -> dict[str, Any]:
    """The create/edit form of a Flask-Admin page (the one with the most fields)."""
    found = [f for f in forms(html) if f["method"] == "post"]
    assert found, "no POST form on the page"
    return max(found, key=lambda f: len(f["fields"]))


def select_options(html: str, name: str) -> list[tuple[str, str]]:
    """The (value, text) options of the select named `name` in the page's model form."""
    form = model_form(html)
    assert name in form["options"], f"no select {name!r} (has {sorted(form['options'])})"
    return [(v, t) for v, t in form["options"][name] if v not in ("", "__None")]


def as_multidict(fields: list[tuple[str, str]], **overrides: Any) -> dict[str, Any]:
    """Fields as a dict for the test client (repeated names become lists); overrides replace values."""
    data: dict[str, Any] = {}
    for name, value in fields:
        if name in data:
            data[name] = data[name] if isinstance(data[name], list) else [data[name]]
            data[name].append(value)
        else:
            data[name] = value
    for name, value in overrides.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


@contextlib.contextmanager
def acting_as(app: Flask, user: Any) -> Iterator[None]:
    """A request context in which `current_user` is `user` (for asking views what they would show)."""
    # An app context of its own: `g` (where Flask-Login caches the user) must not leak into the caller's.
    with app.app_context(), app.test_request_context("/"):
        g._login_user = user
        yield


class Isolated:
    """Wraps a test client or conftest Browser so each request runs in an app context of its own.

    Flask reuses an app context that is already pushed (the `ctx` fixture's), and with it `g` — where
    Flask-Login caches the current user — and the scoped database session. Two clients used in one test
    would then both act as whoever asked first. Each request here gets a fresh `g` and session, as in
    production.
    """

    _WRAPPED = {"get", "post", "post_form", "open", "head", "delete", "put"}

    def __init__(self, app: Flask, inner: Any) -> None:
        self._app, self._inner = app, inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self._WRAPPED:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._app.app_context():
                response = attr(*args, **kwargs)
                response.get_data()  # read streamed bodies (CSV export) while the context lives
                return response

        return call


def primary_key(model: type):
    return sa_inspect(model).primary_key[0]


def ids_visible(app: Flask, view: Any, user: Any) -> list:
    """Primary keys of the rows `view` lists for `user` (through the view's own query)."""
    with acting_as(app, user):
        pk = primary_key(view.model)
        return [row[0] for row in view.get_query().with_entities(pk).order_by(pk).all()]


def first_hidden(app: Flask, view: Any, user: Any) -> Any | None:
    """The smallest primary key of a row of the view's model that `user` may NOT reach through it."""
    visible = set(ids_visible(app, view, user))
    pk = primary_key(view.model)
    for (key,) in db.session.execute(select(pk).order_by(pk)):
        if key not in visible:
            return key
    return None


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


class _ErrorParser(HTMLParser):
    """Field errors as both templates render them: an `is-invalid` control followed by its
    `invalid-feedback` block (Flask-Admin: a list inside; ours: the text itself); plus alert messages."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.errors: dict[str, list[str]] = {}
        self.alerts: list[str] = []
        self._invalid: str | None = None
        self._collect: str | None = None
        self._depth = 0
        self._text = ""
        self._alert_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag in ("input", "select", "textarea") and "is-invalid" in classes and a.get("name"):
            self._invalid = a["name"]
        if tag == "div" and "invalid-feedback" in classes and self._invalid:
            self._collect, self._depth, self._text = self._invalid, 0, ""
        elif tag == "div" and self._collect:
            self._depth += 1
        if tag == "li" and self._collect:
            self._text += "\n"
        if tag == "div" and "alert" in classes:
            self._alert_depth, self._text_alert = 1, ""
        elif tag == "div" and self._alert_depth:
            self._alert_depth += 1

    def handle_data(self, data: str) -> None:
        if self._collect:
            self._text += data
        if self._alert_depth:
            self._text_alert += data

    def handle_endtag(self, tag: str) -> None:
        if tag != "div":
            return
        if self._collect:
            if self._depth:
                self._depth -= 1
            else:
                found = [t.strip() for t in self._text.split("\n") if t.strip()]
                self.errors.setdefault(self._collect, []).extend(found)
                self._collect = None
        if self._alert_depth:
            self._alert_depth -= 1
            if not self._alert_depth:
                self.alerts.append(" ".join(self._text_alert.split()))


def field_errors(html: str) -> dict[str, list[str]]:
    """{field name: [error messages]} of a rendered form page."""
    parser = _ErrorParser()
    parser.feed(html)
    return parser.errors


def alerts(html: str) -> list[str]:
    """The flashed messages shown on a page."""
    parser = _ErrorParser()
    parser.feed(html)
    return parser.alerts


def explain(response) -> str:
    """A short description of a response for assertion messages: status, field errors, alerts."""
    html = response.get_data(as_text=True)
    return f"{response.status_code} errors={field_errors(html)} alerts={alerts(html)}"


@contextlib.contextmanager
def own_app(config: dict[str, Any]) -> Iterator[Flask]:
    """An application of its own, made from `config`, disposed of afterwards.

    Flask-Limiter keeps one storage per Limiter object and `backoffice.extensions.limiter` is shared by
    every app of the process, so the previous storage is put back afterwards.
    """
    from backoffice import create_app
    from backoffice.extensions import limiter

    saved = (limiter._storage, limiter._limiter)
    app = create_app(config)
    try:
        yield app
    finally:
        limiter._storage, limiter._limiter = saved
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def dedicated_app(base: Flask, **overrides: Any) -> contextlib.AbstractContextManager[Flask]:
    """A second application on the same database with some settings changed (cookie flags, limits…)."""
    config = {key: base.config[key] for key in ("TESTING", "SQLALCHEMY_DATABASE_URI", "SECRET_KEY",
                                                 "BACKOFFICE_DEMO_PASSWORD", "LOGIN_LIMIT_PER_IP",
                                                 "LOGIN_LIMIT_PER_USERNAME", "RATELIMIT_STORAGE_URI")}
    config.update(overrides)
    return own_app(config)


def vi(msgid: str, domain: str = "messages", plural: str | None = None, n: int = 1, **params: Any) -> str:
    """The Vietnamese text of `msgid` from the application's merged catalogs (asserting it is translated)."""
    from babel.support import Translations

    from backoffice.i18n import translation_directories
    merged = None
    for directory in translation_directories():
        catalog = Translations.load(directory, ["vi"], domain=domain)
        if not isinstance(catalog, Translations):
            continue  # no catalog of this domain here
        if merged is None:
            merged = catalog
        else:
            merged.merge(catalog)
    if merged is None:
        text = msgid
    else:
        text = merged.ngettext(msgid, plural, n) if plural else merged.gettext(msgid)
    assert text not in (msgid, plural), f"no Vietnamese translation for {msgid!r}"
    return text % params if params else text
