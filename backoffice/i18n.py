"""Languages: Vietnamese by default, English selectable; the choice lives in the session and the user's profile.

Each capability package may keep its own catalog in `<package>/translations`; all are merged. The main catalog
(`backoffice/translations`) also carries two catalogs for the libraries whose own Vietnamese falls short:
- `admin.po`: corrections and additions to Flask-Admin's bundled Vietnamese catalog (domain "admin");
- `wtforms.po`: WTForms' built-in validator messages ("This field is required.", …), which WTForms ships without
  Vietnamese; used by Flask-WTF forms and by Flask-Admin's forms alike.
"""
from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

from babel import Locale

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import Domain
from flask_login import current_user
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from backoffice.extensions import babel

PACKAGE_DIR = Path(__file__).resolve().parent
MAIN_DIR = PACKAGE_DIR / "translations"


def translation_directories() -> list[str]:
    """Every `backoffice/<pkg>/translations` directory, then the main catalog.

    When catalogs are merged a later one wins for a msgid both translate, so the main catalog comes last: the
    foundation's words (the glossary of DOMAIN.md §8) stay the same on every page whatever a package says."""
    dirs = sorted(PACKAGE_DIR.glob("*/translations")) + [MAIN_DIR]
    return [str(d) for d in dirs if d.is_dir()]


@functools.lru_cache(maxsize=64)
def _locale(identifier: str) -> Locale:
    """Parsed once: Babel's parse checks its data files on disk every time."""
    return Locale.parse(identifier)


@functools.lru_cache(maxsize=256)
def _best_language(accept_language: str, languages: tuple[str, ...]) -> str | None:
    """The Accept-Language header's best match among ours; devices send the same few headers all day."""
    return parse_accept_header(accept_language, LanguageAccept).best_match(languages)


def select_locale() -> Locale:
    languages = current_app.config["LANGUAGES"]
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    if not has_request_context():  # CLI, tests, background work: the default language
        return _locale(default)
    if request.blueprint == "api_v1":  # device clients have no session: the language they ask for
        return _locale(_best_language(request.headers.get("Accept-Language", ""), tuple(languages)) or default)
    chosen = session.get("lang")
    if chosen in languages:
        return _locale(chosen)
    if getattr(current_user, "is_authenticated", False) and current_user.locale in languages:
        return _locale(current_user.locale)
    return _locale(default)


def compile_catalogs(force: bool = False) -> list[str]:
    """Compile every .po (messages, admin, wtforms) to .mo unless the .mo was made from that very .po (the .mo files
    are build products, not committed). Returns the catalogs compiled; a read-only tree keeps what it has.

    A compiled .mo carries its .po's modification time, so any change of the .po — also to an older time, as a
    branch switch or a `cp -p` may leave — compiles it again. Each .mo is written to a temporary file and renamed
    into place, so another worker process starting at the same moment never reads half a catalog."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    compiled = []
    for directory in translation_directories():
        for po_path in sorted(Path(directory).glob("*/LC_MESSAGES/*.po")):
            mo_path = po_path.with_suffix(".mo")
            po_time = po_path.stat().st_mtime_ns
            if not force and mo_path.exists() and mo_path.stat().st_mtime_ns == po_time:
                continue
            try:
                with po_path.open("rb") as po_file:
                    catalog = read_po(po_file)
                fd, tmp_name = tempfile.mkstemp(dir=mo_path.parent, prefix=".", suffix=".mo.tmp")
                try:
                    with os.fdopen(fd, "wb") as mo_file:
                        write_mo(mo_file, catalog)
                    os.utime(tmp_name, ns=(po_time, po_time))
                    os.replace(tmp_name, mo_path)
                except BaseException:
                    Path(tmp_name).unlink(missing_ok=True)
                    raise
            except OSError:
                continue
            compiled.append(str(po_path))
    return compiled


# WTForms' messages: WTForms' own catalogs, then ours (WTForms has no Vietnamese).
_wtforms_domain: Domain | None = None


def _wtforms_translations_domain() -> Domain:
    global _wtforms_domain
    if _wtforms_domain is None:
        from wtforms.i18n import messages_path
        _wtforms_domain = Domain([messages_path(), str(MAIN_DIR)], domain="wtforms")
    return _wtforms_domain


class _WTFormsTranslations:
    """What Flask-WTF looks for in `request.wtforms_translations`: resolved on first use, in the request's locale."""

    def ugettext(self, string: str) -> str:
        return _wtforms_translations_domain().get_translations().ugettext(string)

    def ungettext(self, singular: str, plural: str, n: int) -> str:
        return _wtforms_translations_domain().get_translations().ungettext(singular, plural, n)

    gettext, ngettext = ugettext, ungettext


def _wire_libraries(app: Flask) -> None:
    """Make Flask-Admin's and WTForms' texts follow the user's language with our catalogs.

    Flask-Admin 2.2 translates with its own flask-babel Domain (domain "admin", its bundled catalogs); it lists an
    `Admin(translations_path=…)` directory *before* the bundled one, so the bundled catalog would win every msgid
    both have. Our directory is appended after the bundled one instead, so our corrections win. Its forms take
    WTForms' messages from its module-level `wtforms_domain`, which we replace by ours."""
    from flask_admin import babel as admin_babel

    domain = getattr(admin_babel, "domain", None)
    if domain is not None:  # None only when flask-babel is missing, and then nothing is translated anyway
        from flask_admin import translations as admin_translations
        domain._translation_directories = [admin_translations.__path__[0], str(MAIN_DIR)]
        domain.cache.clear()
        admin_babel.wtforms_domain = _wtforms_translations_domain()

    @app.before_request
    def _wtforms_for_flask_wtf() -> None:
        # Flask-WTF reads this attribute before loading WTForms' catalogs itself (which have no Vietnamese).
        request.wtforms_translations = _WTFormsTranslations()


def init_app(app: Flask) -> None:
    compile_catalogs()
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(translation_directories())
    babel.init_app(app, locale_selector=select_locale)
    _wire_libraries(app)

    @app.context_processor
    def languages():
        from flask_babel import get_locale
        return {"LANGUAGES": app.config["LANGUAGES"], "current_locale": str(get_locale())}
