"""The one firm rule: dependencies point one way, road_rules <- routing <- dispatch <- web."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["road_rules", "routing", "dispatch", "web"]
FORBIDDEN_LIBS = {
    "road_rules": {"flask", "sqlalchemy", "osmnx", "networkx", "ortools", "alembic"},
    "routing": {"flask", "sqlalchemy", "alembic"},
    "dispatch": {"flask"},
}


def _imports(pkg: str) -> list[tuple[Path, str]]:
    out = []
    for f in (ROOT / pkg).rglob("*.py"):
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                out += [(f, a.name.split(".")[0]) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                out.append((f, node.module.split(".")[0]))
    return out


@pytest.mark.parametrize("pkg", LAYERS)
def test_no_import_points_up_the_stack(pkg: str) -> None:
    """A package imports only the layers below it and none of the libraries of the layers above."""
    higher = set(LAYERS[LAYERS.index(pkg) + 1 :])
    bad = [
        (str(f.relative_to(ROOT)), mod)
        for f, mod in _imports(pkg)
        if mod in higher or mod in FORBIDDEN_LIBS.get(pkg, set())
    ]
    assert bad == []
