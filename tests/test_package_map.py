"""The README's map of the code (its "Layout" block) names every package and module of `backoffice/` once, and
nothing that is not there: a newcomer reads where each thing lives from it."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "backoffice"


def _mapped() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    names = []
    for line in block.splitlines():
        entry = re.match(r"^  (\S+)\s", line + " ")  # two spaces: inside backoffice/
        if entry:
            names.append(entry.group(1).rstrip("/"))
    return names


def _tree() -> set[str]:
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    return packages | {f"{name}.py" for name in modules}


def test_the_readme_maps_every_package_and_module_once():
    mapped = _mapped()
    tree = _tree()
    assert len(mapped) == len(set(mapped)), sorted(n for n in mapped if mapped.count(n) > 1)
    assert set(mapped) - tree == set(), "mapped but not in backoffice/"
    assert tree - set(mapped) == set(), "in backoffice/ but not on the README's map"
