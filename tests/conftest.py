"""Shared fixtures: the bundled road network and a demo database built once per session."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from dispatch.settings import Settings
from routing.network import RoadNetwork, load_network

DEMO_DAY = dt.date(2026, 12, 1)  # a Tuesday: collection points on Tu/Th/Sa are due


@contextmanager
def pg_schema(label: str) -> Iterator[str]:
    """A database URL on a throw-away schema of ``TEST_DATABASE_URL`` (dropped after).

    Skips the test, naming ``label``, when PostgreSQL is not configured.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip(f"TEST_DATABASE_URL is not set: PostgreSQL {label} tests skipped")
    schema = f"loopvan_{label.replace(' ', '_')}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def network() -> RoadNetwork:
    """The bundled Futian/Nanshan road network (cached graph)."""
    return load_network()


@pytest.fixture(scope="session")
def demo_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings pointing at a throw-away SQLite database."""
    db = tmp_path_factory.mktemp("demo") / "loopvan.db"
    return dataclasses.replace(
        Settings.from_env(), database_url=f"sqlite:///{db}", solver_time_limit_s=2.0
    )


@pytest.fixture(scope="session")
def demo_plan(
    demo_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch_session: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """Run ``loopvan demo --no-serve --json`` once; return the exported plans document."""
    from dispatch.cli import main

    out = tmp_path_factory.mktemp("demo-out") / "plan.json"
    monkeypatch_session.setenv("LOOPVAN_DATABASE_URL", demo_settings.database_url)
    code = main(
        ["demo", "--no-serve", "--json", str(out), "--date", DEMO_DAY.isoformat(), "--seconds", "2"]
    )
    assert code == 0
    doc: dict[str, Any] = json.loads(Path(out).read_text(encoding="utf-8"))
    doc["_path"] = str(out)
    return doc


@pytest.fixture(scope="session")
def monkeypatch_session() -> Any:
    """A session-scoped MonkeyPatch."""
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


# --- road graph fixtures for the routing and scenario tests (cache outside ~/.cache)


@pytest.fixture(scope="session")
def network_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Graph cache: ``$LOOPVAN_CACHE_DIR`` when set (CI), else a per-session temp dir.

    Never ``~/.cache``, so a stale or missing personal cache cannot change results.
    """
    import os

    env = os.environ.get("LOOPVAN_CACHE_DIR")
    return Path(env) if env else tmp_path_factory.mktemp("loopvan-cache")


@pytest.fixture(scope="session")
def bundled_network(network_cache_dir: Path) -> RoadNetwork:
    """The bundled Futian/Nanshan road graph, cached in :func:`network_cache_dir`."""
    return load_network(cache_dir=network_cache_dir)


@pytest.fixture(scope="session")
def light_truck_graph(bundled_network: RoadNetwork) -> Any:
    """The bundled graph compiled for the ``light_truck`` speed profile (a CompiledGraph)."""
    from routing.compiled import compile_graph

    return compile_graph(bundled_network, "light_truck")
