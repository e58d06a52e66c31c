"""Plausible dates of the records the health decision trusts: one home for the bounds, used by the admin forms,
the ward officer's registration form and the resident import alike.

- Birth dates: not in the future, not more than BACKOFFICE_MAX_AGE_YEARS (default 120) years ago.
- Vaccinations: not in the future, not before BACKOFFICE_EARLIEST_VACCINATION (ISO date, default 2020-12-01).
  Why that day: the first COVID-19 vaccinations outside clinical trials and China's emergency-use programme
  (from July 2020) began in December 2020 — the UK's MHRA authorised Pfizer-BioNTech on 2 December and the first dose
  was given on 8 December; Russia's mass Sputnik V programme started on 5 December. Vietnam's first dose was given on
  8 March 2021. A city that must accept a trial participant or an earlier foreign dose moves the setting back.
- Test results and recoveries: not in the future.

The bounds depend on "today" (and on configuration), which is why they are checks here and not database CHECK
constraints (a constraint is evaluated once, when the row is written, and would differ per database).
Each check returns the value, so it composes with the import's cell parsers; it raises DateOutOfBounds (a ValueError,
its message translated) otherwise.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Callable, TypeVar

from flask import current_app, has_app_context
from flask_babel import gettext as _
from wtforms.validators import ValidationError

from backoffice.timeutil import local_today, now_utc, to_local

DEFAULT_EARLIEST_VACCINATION = date(2020, 12, 1)
DEFAULT_MAX_AGE_YEARS = 120

T = TypeVar("T", date, datetime)


class DateOutOfBounds(ValueError):
    """An impossible date; str() is the message for the person who typed it."""


def _setting(name: str, default):
    return current_app.config.get(name, default) if has_app_context() else default


def earliest_vaccination() -> date:
    value = _setting("BACKOFFICE_EARLIEST_VACCINATION", DEFAULT_EARLIEST_VACCINATION)
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def max_age_years() -> int:
    return int(_setting("BACKOFFICE_MAX_AGE_YEARS", DEFAULT_MAX_AGE_YEARS))


def _show(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def birth_date(value: date, today: date | None = None) -> date:
    today = today or local_today()
    if value > today:
        raise DateOutOfBounds(_("A birth date cannot be in the future (%(date)s).", date=_show(value)))
    years = max_age_years()
    if value < _years_before(today, years):
        raise DateOutOfBounds(_("A birth date more than %(years)d years ago (%(date)s) is not plausible.",
                                years=years, date=_show(value)))
    return value


def vaccination_date(value: date, today: date | None = None) -> date:
    today = today or local_today()
    if value > today:
        raise DateOutOfBounds(_("A vaccination date cannot be in the future (%(date)s).", date=_show(value)))
    earliest = earliest_vaccination()
    if value < earliest:
        raise DateOutOfBounds(_("%(date)s is before the first COVID-19 vaccinations (%(earliest)s).",
                                date=_show(value), earliest=_show(earliest)))
    return value


def recovery_date(value: date, today: date | None = None) -> date:
    if value > (today or local_today()):
        raise DateOutOfBounds(_("A recovery date cannot be in the future (%(date)s).", date=_show(value)))
    return value


def test_time(value: datetime, now: datetime | None = None) -> datetime:
    """A test's time: aware (any zone) or naive in the city's time, as the admin form gives it."""
    now = now or now_utc()
    local_now = to_local(now).replace(tzinfo=None)
    local_value = to_local(value).replace(tzinfo=None) if value.tzinfo else value
    if local_value > local_now:
        raise DateOutOfBounds(_("A test result cannot be in the future (%(date)s).",
                                date=local_value.strftime("%d/%m/%Y %H:%M")))
    return value


test_time.__test__ = False  # type: ignore[attr-defined]  # not a test for pytest to collect when imported


class Bounded:
    """WTForms validator from one of the checks above: `Bounded(birth_date)`; an empty field passes (Optional and
    DataRequired decide that)."""

    def __init__(self, check: Callable[[T], T]):
        self.check = check

    def __call__(self, form, field) -> None:
        if field.data is None:
            return
        try:
            self.check(field.data)
        except DateOutOfBounds as exc:
            raise ValidationError(str(exc)) from None


__all__ = ["DateOutOfBounds", "Bounded", "birth_date", "vaccination_date", "recovery_date", "test_time",
           "earliest_vaccination", "max_age_years"]
