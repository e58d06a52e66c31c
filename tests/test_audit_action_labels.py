"""The audit log reads in words: every action the code writes has a label in both languages, and every table an
entry can name has a record-type label, so no reader meets `signing_key.rotate` or `trace_cases`."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from backoffice.admin.labels import ACTION_LABELS, TABLE_LABELS, action_label, table_label

SOURCE = Path(__file__).resolve().parent.parent / "backoffice"
DOTTED = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
# Calls whose dotted string arguments are audit actions: the audit module's writers and the small wrappers around
# them that take the action as an argument.
AUDIT_WRITERS = {"record", "record_now", "_audit", "_make_signer", "_create", "read_case"}


def _called_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _dotted(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and DOTTED.match(node.value):
        return node.value
    return None


def written_actions() -> set[str]:
    """Every literal action the code hands to the audit log, found in the source."""
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            values: list[ast.AST | None] = []
            if isinstance(node, ast.Call) and _called_name(node) in AUDIT_WRITERS:
                values = [*node.args, *(k.value for k in node.keywords if k.arg in (None, "action"))]
            elif isinstance(node, ast.Assign):
                if any(isinstance(t, ast.Name) and t.id.endswith("_ACTION") for t in node.targets):
                    values = [node.value]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                named = [*args.posonlyargs, *args.args][-len(args.defaults):] if args.defaults else []
                values = [d for a, d in zip(named, args.defaults) if a.arg == "action"]
                values += [d for a, d in zip(args.kwonlyargs, args.kw_defaults) if a.arg == "action"]
            found.update(v for v in map(_dotted, values) if v)
    return found


def test_the_source_scan_finds_the_actions_it_should():
    actions = written_actions()
    # One of each way an action reaches the audit log: a literal, a wrapper's argument, a module constant and a
    # parameter's default.
    assert {"login.success", "report.city", "signing_key.rotate", "qr_poster.print", "trace.view"} <= actions


@pytest.mark.parametrize("action", sorted(written_actions()))
def test_every_written_action_has_a_label(action):
    assert action in ACTION_LABELS, f"{action} has no label in backoffice/admin/labels.py"


def test_every_table_has_a_record_type_label(app):
    from backoffice.models import Base
    missing = sorted(t for t in Base.metadata.tables if t not in TABLE_LABELS)
    assert not missing, f"tables without a label: {missing}"


def test_labels_read_in_vietnamese_by_default_and_in_english_when_asked(app):
    from flask_babel import force_locale
    with app.test_request_context():
        with force_locale("vi"):
            assert action_label("signing_key.rotate") == "Xoay vòng khóa ký"
            assert action_label("trace.export") == "Xuất ca truy vết"
            assert action_label("locations.update") == "Sửa: Địa điểm"
        with force_locale("en"):
            assert action_label("report.city") == "City workbook made"
            assert table_label("trace_cases") == "Tracing case"


def test_an_action_from_a_newer_version_shows_as_written(app):
    with app.test_request_context():
        assert action_label("something.new_in_a_later_release") == "something.new_in_a_later_release"
