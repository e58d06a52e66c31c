"""Labels of assessment levels, read from the frozen criteria set versions (never from today's YAML), and
of sectors, in the reader's language."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from backoffice.domain import SECTOR_LABELS, Sector
from backoffice.extensions import db
from backoffice.models import CriteriaSetVersion


def _locale() -> str:
    try:
        return str(get_locale() or "vi")
    except RuntimeError:  # outside any app context
        return "vi"


def _text(value, locale: str) -> str:
    if isinstance(value, dict):
        return str(value.get("en" if locale.startswith("en") else "vi") or value.get("vi") or "")
    return str(value or "")


@dataclass
class LevelCatalogue:
    """Level ids in the order the criteria sets list them (safest first), with their labels. The same id
    may appear in several sets; the first label met (oldest version) names it."""

    order: list[str]
    labels: dict[str, str]
    by_version: dict[tuple[int, str], str]
    colours: dict[str, str]  # Bootstrap colour names from the sets (success, warning, danger…)

    def label(self, level: str | None, set_version_id: int | None = None) -> str:
        if level is None:
            return _("Not assessed")
        if set_version_id is not None and (set_version_id, level) in self.by_version:
            return self.by_version[(set_version_id, level)]
        return self.labels.get(level, level)

    def ordered(self, levels) -> list[str | None]:
        """The given level ids sorted as the sets list them, unknown ids after, 'not assessed' last."""
        known = [lv for lv in self.order if lv in levels]
        unknown = sorted(lv for lv in levels if lv is not None and lv not in self.labels)
        return known + unknown + ([None] if None in levels else [])


def level_catalogue() -> LevelCatalogue:
    locale = _locale()
    order: list[str] = []
    labels: dict[str, str] = {}
    by_version: dict[tuple[int, str], str] = {}
    colours: dict[str, str] = {}
    for version_id, content in db.session.execute(
            select(CriteriaSetVersion.id, CriteriaSetVersion.content).order_by(CriteriaSetVersion.id)):
        for level in (content or {}).get("levels", []) or []:
            if not isinstance(level, dict) or not level.get("id"):
                continue
            level_id = str(level["id"])
            text = _text(level.get("label"), locale) or level_id
            by_version[(version_id, level_id)] = text
            if level_id not in labels:
                labels[level_id] = text
                colours[level_id] = str(level.get("colour") or "secondary")
                order.append(level_id)
    return LevelCatalogue(order, labels, by_version, colours)


def sector_label(value: str | None) -> str:
    try:
        return str(SECTOR_LABELS[Sector(value)])
    except (ValueError, KeyError):
        return value or ""
