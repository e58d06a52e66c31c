"""The import engine, the same for every kind: find the header, check each row, match a chunk of rows against
the database with one query, classify (new / update / unchanged / error), and later write the accepted rows
chunk by chunk. The preview and the apply use the same `compare`, so what the preview promised is what the
apply does, re-checked against the database as it is at confirm time."""
from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from flask_babel import gettext as _

from backoffice import exports
from backoffice.imports import reader, staging
from backoffice.imports.columns import Column, match_header
from backoffice.imports.kinds import ERROR, OUTSIDE, UNCHANGED, Kind, OutsideScope

Progress = Callable[[int, int | None, str], None]
HEADER_SCAN_ROWS = 10


class Blocked(Exception):
    """A row failed at apply time and errors block the import: everything is rolled back."""

    def __init__(self, row: int, messages: list[str]):
        super().__init__(_("Row %(row)d: %(errors)s", row=row, errors="; ".join(messages)))
        self.row = row


@dataclass
class PreviewResult:
    counts: dict[str, int]
    sheet: str
    header_row: int
    matched: list[str]
    ignored: list[str]
    error_report: bytes | None = None
    notes: list[str] = field(default_factory=list)


def _score(values: list[Any], columns: list[Column]) -> int:
    mapping, _ignored = match_header(values, columns)
    return len(mapping)


def find_header(first_rows: list[reader.Row], columns: list[Column]) -> tuple[reader.Row, dict[int, Column],
                                                                                list[str]]:
    """The header is the row among the first ten that names the most known columns."""
    best = max(first_rows, key=lambda r: _score(r.values, columns), default=None)
    mapping, ignored = match_header(best.values, columns) if best else ({}, [])
    if len(mapping) < 2:
        expected = ", ".join(c.header for c in columns if c.required)
        raise reader.FileRejected(_("No header row was found in the first %(n)d rows. The header must name the "
                                    "columns, e.g. %(expected)s.", n=HEADER_SCAN_ROWS, expected=expected))
    missing = [c.header for c in columns if c.required and c not in mapping.values()]
    if missing:
        raise reader.FileRejected(_("Row %(row)d looks like the header, but these required columns are missing: "
                                    "%(missing)s.", row=best.number, missing=", ".join(missing)))
    return best, mapping, ignored


def pick_sheet(columns: list[Column]) -> Callable[[dict[str, list[list[Any]]]], str]:
    def pick(heads: dict[str, list[list[Any]]]) -> str:
        return max(heads, key=lambda title: max((_score(v, columns) for v in heads[title]), default=0))
    return pick


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def preview(source: Path, filename: str, kind: Kind, token: str, limits: reader.Limits, chunk_size: int,
            progress: Progress | None = None) -> PreviewResult:
    """Read the file once, check every row, write the classified rows to staging; the error report too."""
    table = reader.open_table(source, filename, limits, pick_sheet(kind.columns))
    try:
        rows = iter(table)
        first = [row for _, row in zip(range(HEADER_SCAN_ROWS), rows)]
        header, mapping, ignored = find_header(first, kind.columns)
        width = max(len(header.values), max(mapping) + 1)
        headers = [reader.cell_text(v) for v in header.values] + [""] * (width - len(header.values))
        position = {column.key: index for index, column in mapping.items()}
        body = itertools.chain((r for r in first if r.number > header.number), rows)  # streamed, never a list
        counts: Counter = Counter()
        seen: dict[Any, int] = {}
        done = 0
        with staging.path(token, ".rows.jsonl").open("w", encoding="utf-8") as out:
            for chunk in _chunks(_checked(body, kind, mapping, position, headers, seen), chunk_size):
                keys = [values[kind.key] for _row, values, errors, _raw in chunk if not errors]
                current = kind.existing(keys) if keys else {}
                for row, values, errors, raw in chunk:
                    status, changes = ERROR, {}
                    if not errors:
                        outcome = kind.compare(values, current.get(values[kind.key]))
                        errors = [_locate(key, message, position, headers, mapping) for key, message in
                                  outcome.issues]
                        status, changes = (ERROR if errors else outcome.status), outcome.changes
                    counts[status] += 1
                    if any(isinstance(e[2], OutsideScope) for e in errors):
                        counts[OUTSIDE] += 1  # errors, counted apart too: rows this user may not import at all
                    line = {"s": status, "r": row}
                    if status == ERROR:
                        line.update(e=errors, raw=[reader.cell_text(v) for v in raw])
                    else:
                        line.update(v=values, c=changes)
                    out.write(staging.dump_line(line))
                done += len(chunk)
                if progress:
                    progress(done, table.estimated_rows, "reading")
    finally:
        table.close()
    summary = {k: counts.get(k, 0) for k in ("new", "update", "unchanged", "error")}
    if counts[OUTSIDE]:
        summary[OUTSIDE] = counts[OUTSIDE]
    result = PreviewResult(counts=summary,
                           sheet=table.sheet_name, header_row=header.number,
                           matched=[f"{reader.column_letter(i)}: {c.header}" for i, c in sorted(mapping.items())],
                           ignored=ignored)
    if counts[ERROR]:
        result.error_report = error_report(token, headers)
    if not sum(counts.values()):
        raise reader.FileRejected(_("The file has a header (row %(row)d) but no data rows.", row=header.number))
    return result


def _locate(key: str, message: str, position: dict[str, int], headers: list[str],
            mapping: dict[int, Column]) -> list[str]:
    """[column letter, header as the user wrote it, message]: where the user will find the problem."""
    index = position.get(key)
    if index is None:
        return ["", "", message]
    return [reader.column_letter(index), headers[index] or mapping[index].header, message]


def _checked(body: Iterable[reader.Row], kind: Kind, mapping: dict[int, Column], position: dict[str, int],
             headers: list[str], seen: dict[Any, int]) -> Iterator[tuple[int, dict, list, list]]:
    """(row number, values, errors, the row's cells as read) for each non-empty row."""
    example = [(index, column.example) for index, column in mapping.items() if column.required]
    for row in body:
        cells = row.values
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in cells):
            continue  # blank rows (trailing or in between) are not rows of data
        if example and all(index < len(cells) and cells[index] == value for index, value in example):
            continue  # the template's example row, left in: never import it (its tax code is a real one)
        values: dict[str, Any] = {}
        errors: list[list[str]] = []
        for index, column in mapping.items():
            raw = cells[index] if index < len(cells) else None
            if index in row.formulas:
                errors.append(_locate(column.key, _("This cell holds a formula (%(formula)s); type the value "
                                                    "instead.", formula=raw), position, headers, mapping))
                continue
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                if column.required:
                    errors.append(_locate(column.key, _("A value is required."), position, headers, mapping))
                continue
            try:
                values[column.key] = column.parse(raw)
            except ValueError as exc:
                errors.append(_locate(column.key, str(exc), position, headers, mapping))
        # The cross-field checks run whatever else is wrong with the row (every error of a row is
        # reported at once), each said at its cell unless that cell already has its own error.
        failed = {e[0] for e in errors}
        errors += [_locate(key, message, position, headers, mapping) for key, message in kind.check(values)
                   if key not in position or reader.column_letter(position[key]) not in failed]
        key = values.get(kind.key)
        if key is not None and not any(e[0] == reader.column_letter(position[kind.key]) for e in errors):
            if key in seen:
                errors.append(_locate(kind.key, _("The same value is on row %(row)d.", row=seen[key]),
                                      position, headers, mapping))
            else:
                seen[key] = row.number
        yield row.number, values, errors, cells


def error_report(token: str, headers: list[str]) -> bytes:
    """The rows with errors, as uploaded, with the row number and an error column (formula-safe)."""
    def rows():
        for line in staging.read_lines(token):
            if line["s"] == ERROR:
                messages = "; ".join(f"{letter}{line['r']} ({header}): {msg}" if letter else msg
                                     for letter, header, msg in line["e"])
                raw = line["raw"] + [""] * (len(headers) - len(line["raw"]))
                yield [line["r"], *raw[:len(headers)], messages]
    titles = [_("Row"), *headers, _("Errors")]
    return exports.xlsx_bytes(_("Errors"), titles, rows(), widths=[8] + [18] * len(headers) + [80])


def staged_values(line: dict, columns: list[Column]) -> dict[str, Any]:
    values = dict(line["v"])
    for column in columns:
        if column.is_date and values.get(column.key):
            values[column.key] = date.fromisoformat(values[column.key])
    return values


def apply(kind: Kind, token: str, skip_errors: bool, chunk_size: int, now: datetime,
          progress: Progress | None = None, total: int | None = None) -> tuple[dict[str, int], list[Any]]:
    """Write the staged rows, chunk by chunk, inside the caller's transaction. Rows are compared again with
    the database as it is now; a row that fails now blocks (raises Blocked) unless errors are skipped."""
    counts: Counter = Counter()
    created: list[Any] = []
    done = 0
    for chunk in _chunks(staging.read_lines(token), chunk_size):
        rows = []
        for line in chunk:
            if line["s"] == ERROR:
                if not skip_errors:
                    raise Blocked(line["r"], [e[2] for e in line["e"]])
                counts[ERROR] += 1
            else:
                rows.append((line["r"], staged_values(line, kind.columns)))
        current = kind.existing([values[kind.key] for _r, values in rows]) if rows else {}
        writes = []
        for number, values in rows:
            record = current.get(values[kind.key])
            outcome = kind.compare(values, record)
            if outcome.issues:
                if not skip_errors:
                    raise Blocked(number, [message for _key, message in outcome.issues])
                counts[ERROR] += 1
                continue
            counts[outcome.status] += 1
            if outcome.status != UNCHANGED:
                writes.append((values, record))
        created += kind.write(writes, now)
        done += len(chunk)
        if progress:
            progress(done, total, "writing")
    return {k: counts.get(k, 0) for k in ("new", "update", "unchanged", "error")}, created
