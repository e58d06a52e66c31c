"""Health reasons of recorded check-ins, shown in the reader's language.

A check-in keeps what decided its colour — the rule id and version, the outcome id and the values the outcome's
reason quotes (`status_params`) — beside the reason as rendered when scanned (`status_reason`). At display the
reason is rendered again from the rule file's msgid with gettext, as `health.status` does at the scan, so a Vietnamese
scan reads in English to an English reader. A row without an outcome (recorded before these columns), or whose
rule file is gone or no longer has that outcome, shows its stored text.
"""
from __future__ import annotations

import json
import string
from functools import lru_cache

from backoffice.health.status import HealthStatus, render_reason
from backoffice.health.rules import rule_sets

_FORMATTER = string.Formatter()


@lru_cache(maxsize=256)
def _fields(msgid: str) -> tuple[str, ...]:
    """The names a reason msgid quotes ("{doses} dose(s), …" → doses, …)."""
    return tuple(dict.fromkeys(name for _, name, _, _ in _FORMATTER.parse(msgid) if name))


def params_of(status: HealthStatus) -> dict:
    """The values the status's reason quotes: what `render` needs, nothing else of the person's facts."""
    values = dict(status.reason_args)
    return {name: values.get(name) for name in _fields(status.reason_msgid)}


_JSON_CACHE: dict[tuple, str] = {}


def params_json(status: HealthStatus) -> str:
    """`params_of` as JSON text (the scan's hot path hands PostgreSQL's driver text, as for the audit entry);
    statuses are few and shared, so each one's text is made once."""
    key = (status.reason_msgid, status.reason_args)
    text = _JSON_CACHE.get(key)
    if text is None:
        if len(_JSON_CACHE) > 4096:
            _JSON_CACHE.clear()
        text = _JSON_CACHE[key] = json.dumps(params_of(status), separators=(",", ":"))
    return text


def _msgid(rule_id: str, rule_version: str, outcome: str) -> str | None:
    for rule_set in rule_sets():
        if rule_set.spec.id == rule_id and rule_set.spec.version == rule_version:
            for spec in rule_set.spec.outcomes:
                if spec.id == outcome:
                    return spec.reason
    return None


def render(*, stored: str, rule_id: str, rule_version: str, outcome: str, params: dict | str | None) -> str:
    """The reason in the current language; `stored` when it cannot be rendered again."""
    if not outcome:
        return stored
    msgid = _msgid(rule_id, rule_version, outcome)
    if msgid is None:
        return stored
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            return stored
    try:
        return render_reason(msgid, params if isinstance(params, dict) else {})
    except (KeyError, IndexError, ValueError):  # values missing for a msgid changed since: the stored text
        return stored


def checkin_reason(checkin) -> str:
    """A `CheckIn`'s reason in the current language."""
    return render(stored=checkin.status_reason or "", rule_id=checkin.rule_id or "",
                  rule_version=checkin.rule_version or "", outcome=checkin.status_outcome or "",
                  params=checkin.status_params)
