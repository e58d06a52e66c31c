"""Languages: Vietnamese by default, English selectable; the choice lives in the session and the user's profile.

Each capability package may keep its own catalog in `<package>/translations`; all are merged.
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, has_request_context, request, session
from flask_login import current_user

from backoffice.extensions import babel

PACKAGE_DIR = Path(__file__).resolve().parent


def translation_directories() -> list[str]:
    """The main catalog plus every `backoffice/<pkg>/translations` directory."""
    dirs = [PACKAGE_DIR / "translations"] + sorted(PACKAGE_DIR.glob("*/translations"))
    return [str(d) for d in dirs if d.is_dir()]


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI, tests, background work: the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    if getattr(current_user, "is_authenticated", False) and current_user.locale in languages:
        return current_user.locale
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def compile_catalogs(force: bool = False) -> list[str]:
    """Compile every messages.po to messages.mo when missing or older (the .mo files are build products,
    not committed). Returns the catalogs compiled; a read-only tree keeps what it has."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    compiled = []
    for directory in translation_directories():
        for po_path in Path(directory).glob("*/LC_MESSAGES/*.po"):
            mo_path = po_path.with_suffix(".mo")
            if not force and mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
                continue
            try:
                with po_path.open("rb") as po_file:
                    catalog = read_po(po_file)
                with mo_path.open("wb") as mo_file:
                    write_mo(mo_file, catalog)
            except OSError:
                continue
            compiled.append(str(po_path))
    return compiled


def init_app(app: Flask) -> None:
    compile_catalogs()
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(translation_directories())
    babel.init_app(app, locale_selector=select_locale)

    @app.context_processor
    def languages():
        from flask_babel import get_locale
        return {"LANGUAGES": app.config["LANGUAGES"], "current_locale": str(get_locale())}
