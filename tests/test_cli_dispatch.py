"""The lifecycle and booking commands: tables on success, a message and exit 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dispatch.cli import main


@pytest.fixture(scope="module")
def db_env(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'cli.db'}"
    mp = pytest.MonkeyPatch()
    mp.setenv("LOOPVAN_DATABASE_URL", url)
    assert main(["demo", "--no-serve", "--date", "2026-12-01", "--seconds", "1"]) == 0
    yield url
    mp.undo()


def test_approve_publish_and_refuse_twice(db_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    """approve then publish print the new state and route versions; approving again is exit 2."""
    capsys.readouterr()
    assert main(["plan", "approve", "1", "--by", "li"]) == 0
    assert "now approved" in capsys.readouterr().out
    assert main(["plan", "approve", "1", "--by", "li"]) == 2
    assert "only a draft can be approved" in capsys.readouterr().err
    assert main(["plan", "publish", "1", "--by", "li"]) == 0
    out = capsys.readouterr().out
    assert "now published" in out and "route version" in out
    assert main(["plan", "reject", "1", "--by", "li", "--reason", "late"]) == 2


def test_booking_create_is_idempotent_and_validated(
    db_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same file twice makes one booking; an unknown material is named; show prints the history."""
    body = {
        "resident": {"name": "王芳", "phone": "13800138000"},
        "address": "福田区某小区3栋1201",
        "lat": 22.5370,
        "lon": 114.0250,
        "materials": [{"material": "paper", "kg": 12, "m3": 0.1}],
        "date": "2026-12-02",
        "window": {"start": "09:00", "end": "11:00"},
        "idempotency_key": "cli-key-0001",
    }
    f = tmp_path / "b.json"
    f.write_text(json.dumps(body), encoding="utf-8")
    capsys.readouterr()
    assert main(["booking", "create", str(f), "--today", "2026-12-01"]) == 0
    ref = capsys.readouterr().out.split(": ")[1].split(" ")[0]
    assert main(["booking", "create", str(f), "--today", "2026-12-01"]) == 0
    assert "already exists" in capsys.readouterr().out
    body["materials"][0]["material"] = "uranium"
    body["idempotency_key"] = "cli-key-0002"
    f.write_text(json.dumps(body), encoding="utf-8")
    assert main(["booking", "create", str(f), "--today", "2026-12-01"]) == 2
    assert "materials[0].material" in capsys.readouterr().err
    assert main(["booking", "show", ref]) == 0
    out = capsys.readouterr().out
    assert "requested" in out and "queued" in out
    assert main(["booking", "cancel", ref]) == 0
    assert main(["booking", "cancel", ref]) == 2


def test_stats_count_what_drivers_recorded(db_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Tonnage per material and coverage per week add up the recorded collections, each once."""
    from sqlalchemy import select

    from dispatch import execution
    from dispatch import models as m
    from dispatch.db import make_engine, session_scope

    eng = make_engine(db_env)
    with session_scope(eng) as s:
        plan = s.scalar(
            select(m.Plan)
            .where(m.Plan.status.in_(("published", "in_progress")))
            .order_by(m.Plan.id)
        )
        route = plan.routes[0]
        driver = s.scalar(select(m.Driver).where(m.Driver.vehicle_id == route.vehicle_id))
        work = [x for x in route.stops if x.kind in ("pickup", "station")][:4]
        for i, x in enumerate(work):
            ev = {
                "event_id": f"stats-{i:04d}-x",
                "stop_id": x.id,
                "kind": "collected",
                "recorded_at": "2026-12-01T10:00:00+08:00",
                "kg": {"paper": 10.0, "metal": 2.5},
            }
            execution.record_event(s, driver, ev)
            execution.record_event(s, driver, ev)  # a resend counts once
        cps = {x.collection_point_id for x in work if x.collection_point_id is not None}
        district = plan.district.code
    capsys.readouterr()
    assert main(["stats", "--from", "2026-12-01", "--to", "2026-12-01", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    kg = {(r["district"], r["material"]): r["kg"] for r in doc["tonnage"]}
    assert kg[(district, "paper")] == pytest.approx(10.0 * len(work))
    assert kg[(district, "metal")] == pytest.approx(2.5 * len(work))
    cov = next(r for r in doc["coverage"] if r["district"] == district)
    assert cov["served"] == len(cps) and cov["points"] >= cov["served"]
    assert main(["stats", "--from", "2026-12-02", "--to", "2026-12-01"]) == 2
