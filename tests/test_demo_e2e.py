"""End to end: the demo loads the bundled data, builds legal plans and exports plan JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from dispatch import models as m
from dispatch.cli import main
from dispatch.db import make_engine, session_scope
from dispatch.settings import Settings
from road_rules.legality import check_plan
from routing.network import RoadNetwork


def _plans(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc.get("plans", [doc])


def test_demo_builds_a_plan_per_district(demo_plan: dict[str, Any]) -> None:
    """The demo plans both bundled districts, each with routes that serve stops."""
    plans = _plans(demo_plan)
    assert {p["plan"]["district"]["name_en"] for p in plans} == {"Futian", "Nanshan"}
    for p in plans:
        assert p["format"] == "loopvan-plan/1"
        assert p["routes"], "a plan without routes"
        assert (
            sum(1 for r in p["routes"] for s in r["stops"] if s["kind"] in ("pickup", "station"))
            > 20
        )


def test_every_booking_is_routed_or_unassigned_with_reason(
    demo_plan: dict[str, Any], demo_settings: Settings
) -> None:
    """Each booking of the day appears exactly once: on a route, or unassigned with a reason."""
    plans = _plans(demo_plan)
    routed = [
        s["id"] for p in plans for r in p["routes"] for s in r["stops"] if s["kind"] == "pickup"
    ]
    unassigned = {u["id"]: u for p in plans for u in p["unassigned"] if u["kind"] == "pickup"}
    assert len(routed) == len(set(routed)), "a booking is on two routes"
    assert not set(routed) & set(unassigned)
    engine = make_engine(demo_settings.database_url)
    with session_scope(engine) as s:
        refs = set(s.scalars(select(m.Booking.reference)))
    assert len(refs) == 150
    assert set(routed) | set(unassigned) == refs
    for u in unassigned.values():
        assert u["reason"] and u["detail"]


def test_routes_are_timed_loaded_and_end_empty(demo_plan: dict[str, Any]) -> None:
    """Routes start and end at the depot, unload before returning, and never exceed capacity."""
    for p in _plans(demo_plan):
        caps = {v["plate"]: v for v in p["vehicles"]}
        for r in p["routes"]:
            stops = r["stops"]
            assert stops[0]["kind"] == "depot" and stops[-1]["kind"] == "depot"
            assert stops[-2]["kind"] == "unload"
            assert stops[-1]["load_after"]["kg"] == 0
            assert max(s["load_after"]["kg"] for s in stops) <= caps[r["vehicle"]]["capacity_kg"]
            times = [s["arrival"] for s in stops]
            assert times == sorted(times)


def test_leg_paths_are_chains_of_graph_edges(
    demo_plan: dict[str, Any], network: RoadNetwork
) -> None:
    """Every consecutive pair of nodes in every leg path is an edge of the road graph."""
    g = network.graph
    pairs = 0
    for p in _plans(demo_plan):
        for r in p["routes"]:
            for s in r["stops"]:
                leg = s.get("leg")
                if not leg:
                    continue
                assert len(leg["nodes"]) == len(leg["enter_times"])
                for a, b in zip(leg["nodes"], leg["nodes"][1:], strict=False):
                    assert g.has_edge(a, b)
                    pairs += 1
    assert pairs > 500


def test_demo_plans_pass_the_legality_replay(
    demo_plan: dict[str, Any], network: RoadNetwork
) -> None:
    """The legality checker finds no violation in the demo plans."""
    for p in _plans(demo_plan):
        assert check_plan(p, has_edge=network.graph.has_edge) == []


def test_check_plan_cli_flags_an_injected_violation(
    demo_plan: dict[str, Any], tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """check-plan exits 0 on the demo plans and 1 with a table once a load exceeds capacity."""
    assert main(["check-plan", demo_plan["_path"]]) == 0
    bad = json.loads(json.dumps(_plans(demo_plan)[0]))
    route = bad["routes"][0]
    route["stops"][1]["load_after"]["kg"] = 99_999
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(bad), encoding="utf-8")
    capsys.readouterr()
    assert main(["check-plan", str(f)]) == 1
    out = capsys.readouterr().out
    assert "capacity" in out and route["vehicle"] in out


def test_check_plan_rejects_a_file_that_is_not_a_plan(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSON file that is not plan JSON gets exit code 2 and a message, not a traceback."""
    f = tmp_path / "x.json"
    f.write_text('{"hello": 1}', encoding="utf-8")
    assert main(["check-plan", str(f)]) == 2
    assert "not a plan JSON" in capsys.readouterr().err


def test_rebuilding_supersedes_the_old_draft(
    demo_plan: dict[str, Any], demo_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Building again for the same district and date leaves one live draft; the old one is superseded."""
    monkeypatch.setenv("LOOPVAN_DATABASE_URL", demo_settings.database_url)
    assert (
        main(["plan", "build", "--date", "2026-12-01", "--district", "440305", "--seconds", "1"])
        == 0
    )
    engine = make_engine(demo_settings.database_url)
    with session_scope(engine) as s:
        nanshan = s.scalar(select(m.District).where(m.District.code == "440305"))
        assert nanshan is not None
        live = s.scalar(
            select(func.count())
            .select_from(m.Plan)
            .where(m.Plan.district_id == nanshan.id, m.Plan.status == "draft")
        )
        superseded = s.scalar(
            select(func.count())
            .select_from(m.Plan)
            .where(m.Plan.district_id == nanshan.id, m.Plan.status == "superseded")
        )
    assert live == 1 and superseded >= 1
