"""The vaccine vocabulary: the products listed under `vaccines:` in the health-status rule files, each with its code
(the value stored with a dose), its name and the synonyms people write. It is the only vocabulary: the rules count a
dose only when its stored value is a listed code, so every writer (admin form, resident import, data migration)
resolves what was typed to a code here, and refuses what it cannot resolve instead of storing it to be ignored.

`flask people unknown-vaccines` lists stored doses whose value is not a code (rows written before the vocabulary,
which the migration 0009 could not map), so that a ward officer can correct them.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import click
from flask.cli import AppGroup
from flask_babel import gettext as _

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def vaccine_key(text: object) -> str:
    """Case, spaces, punctuation and diacritics ignored: "Astra Zeneca", "astrazeneca", "ASTRA-ZENECA" → "astrazeneca";
    "J&J" → "jj"; the code "sputnik_v" and "Sputnik V" → "sputnikv"."""
    value = unicodedata.normalize("NFKD", str(text).replace("đ", "d").replace("Đ", "D")).lower()
    value = "".join(ch for ch in value if not unicodedata.combining(ch))
    return _NOT_ALNUM.sub("", value)


class UnknownVaccine(ValueError):
    """A typed name that is no product of the vocabulary; str() is the message for the person who typed it."""


@dataclass(frozen=True)
class Vocabulary:
    names: dict[str, str]  # code → name, in the rule file's order
    keys: dict[str, str]  # vaccine_key of a code, name or synonym → code

    def resolve(self, typed: object) -> str:
        """The code of a typed product name, or UnknownVaccine naming the products known."""
        text = "" if typed is None else re.sub(r"\s+", " ", str(typed)).strip()
        code = self.keys.get(vaccine_key(text)) if text else None
        if code is None:
            raise UnknownVaccine(_("\"%(value)s\" is not a vaccine the health rules know; known products: "
                                   "%(products)s.", value=text[:100], products=", ".join(self.names.values())))
        return code

    def choices(self) -> list[tuple[str, str]]:
        return list(self.names.items())

    def name(self, code: str) -> str:
        return self.names.get(code, code)


def build(vaccines: dict) -> Vocabulary:
    """The vocabulary of one rule file's `vaccines:` (code → VaccineSpec)."""
    names, keys = {}, {}
    for code, spec in vaccines.items():
        names[code] = spec.name
        for text in (code, spec.name, *spec.synonyms):
            keys.setdefault(vaccine_key(text), code)
    return Vocabulary(names, keys)


_built: tuple[tuple, Vocabulary] | None = None


def vocabulary() -> Vocabulary:
    """The products of every valid rule file, so that a product only an older file lists (a dose given then) still
    resolves; where files differ, the latest file's names and synonyms win. Built once per loaded set of files."""
    global _built
    from backoffice.health.rules import rule_sets
    sets = sorted(rule_sets(), key=lambda s: s.spec.valid_from)
    # The sets themselves are kept (not their ids, which a new set could reuse once the old one is collected).
    if _built is not None and len(_built[0]) == len(sets) and all(a is b for a, b in zip(_built[0], sets)):
        return _built[1]
    names: dict[str, str] = {}
    keys: dict[str, str] = {}
    for rule_set in sets:
        one = build(rule_set.spec.vaccines)
        names.update(one.names)
        keys.update(one.keys)
    _built = (tuple(sets), Vocabulary(names, keys))
    return _built[1]


def resolve(typed: object) -> str:
    """The code of a typed product name (see `Vocabulary.resolve`)."""
    return vocabulary().resolve(typed)


# --- CLI -------------------------------------------------------------------------------------------------------

people_cli = AppGroup("people", help="Residents and their health records.")


def unknown_vaccines() -> list[tuple[str, int]]:
    """(stored value, doses) of every value that is not a listed code: doses the rules do not count."""
    from sqlalchemy import func, select

    from backoffice.extensions import db
    from backoffice.models import Vaccination
    codes = list(vocabulary().names)
    stmt = (select(Vaccination.vaccine, func.count()).where(Vaccination.vaccine.not_in(codes))
            .group_by(Vaccination.vaccine).order_by(Vaccination.vaccine))
    return [(value, count) for value, count in db.session.execute(stmt)]


@people_cli.command("unknown-vaccines")
def unknown_vaccines_command() -> None:
    """List stored doses whose vaccine is not a product of the rules (they count as no data until corrected)."""
    found = unknown_vaccines()
    if not found:
        click.echo("Every stored dose names a product of the rules.")
        return
    for value, count in found:
        click.echo(f"{value!r}\t{count} dose(s)")
    raise SystemExit(1)


def init_app(app) -> None:
    app.cli.add_command(people_cli)
