"""The whole day on the bundled data, through the ``loopvan`` CLI where people use it:
book (from a suggested slot) -> plan -> edit -> approve -> publish -> execute (with ETAs,
a skip and a closed booking) -> completed -> statistics and carbon balance.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dispatch import models as m
from dispatch.cli import main
from dispatch.db import make_engine, session_scope
from dispatch.editing import current_sequences
from dispatch.execution import route_etas

DAY = dt.date(2026, 12, 1)
TODAY = DAY - dt.timedelta(days=1)

pytestmark = pytest.mark.slow


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_book_plan_edit_approve_publish_execute_and_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'day.db'}"
    monkeypatch.setenv("LOOPVAN_DATABASE_URL", url)
    monkeypatch.setenv("LOOPVAN_WORKERS", "1")
    eng = make_engine(url)
    # the district's data, and last week's queue, as the demo has it
    scen = tmp_path / "scenario.json"
    assert (
        run(capsys, "scenario", "generate", "--date", DAY.isoformat(), "--out", str(scen))[0] == 0
    )
    assert run(capsys, "scenario", "import", str(scen))[0] == 0

    # 1. a resident asks for slots and books the best one
    code, out, _ = run(
        capsys, "booking", "slots", "--lat", "22.5405", "--lon", "114.0560",
        "--material", "e_waste:15", "--today", TODAY.isoformat(), "--days", "2", "--json",
    )  # fmt: skip
    assert code == 0
    slots = json.loads(out)["slots"]
    best = next(r for r in slots if r["date"] == DAY.isoformat())
    body = {
        "resident": {"name": "陈静", "phone": "13800138005"},
        "address": "福田区福华三路",
        "lat": 22.5405,
        "lon": 114.0560,
        "materials": [{"material": "e_waste", "kg": 15, "m3": 0.1}],
        "date": DAY.isoformat(),
        "window": {"start": best["start"], "end": best["end"]},
        "idempotency_key": "e2e-booking-0001",
    }
    bfile = tmp_path / "booking.json"
    bfile.write_text(json.dumps(body, ensure_ascii=False), "utf-8")
    code, out, _ = run(capsys, "booking", "create", str(bfile), "--today", TODAY.isoformat())
    assert code == 0 and "created" in out
    ref = out.split(": ", 1)[1].split(" ", 1)[0]
    code, out, _ = run(capsys, "booking", "create", str(bfile), "--today", TODAY.isoformat())
    assert "already exists" in out and ref in out  # a retry is the same booking

    # 2. the nightly plan
    code, out, _ = run(
        capsys, "plan", "build", "--date", DAY.isoformat(), "--district", "440304",
        "--seconds", "3",
    )  # fmt: skip
    assert code == 0, out
    with session_scope(eng) as s:
        plan = s.scalars(select(m.Plan).where(m.Plan.status == "draft")).one()
        pid = plan.id
        seqs = current_sequences(plan)
        b = s.scalars(select(m.Booking).where(m.Booking.reference == ref)).one()
        assert b.status == "planned", "the booking took its suggested slot"
        assert any(ref in seq for seq in seqs.values())

    # 3. the dispatcher edits: drops the last stop of the longest route
    longest = max(seqs, key=lambda k: len(seqs[k]))
    with session_scope(eng) as s:
        stations = set(s.scalars(select(m.TransferStation.ref)))
    dropped = [x for x in seqs[longest] if x not in stations][-1]  # its last pickup or point
    seqs[longest].remove(dropped)
    efile = tmp_path / "edit.json"
    efile.write_text(json.dumps(seqs, ensure_ascii=False), "utf-8")
    code, out, err = run(capsys, "plan", "edit", str(pid), "--file", str(efile), "--by", "li")
    assert code == 0, err
    with session_scope(eng) as s:
        new = s.scalars(select(m.Plan).where(m.Plan.status == "draft")).one()
        assert new.version == 2 and s.get_one(m.Plan, pid).status == "superseded"
        assert dropped not in {x for seq in current_sequences(new).values() for x in seq}
        pid = new.id

    # 4. approve (once) and publish
    assert run(capsys, "plan", "approve", str(pid), "--by", "li")[0] == 0
    code, _, err = run(capsys, "plan", "approve", str(pid), "--by", "li")
    assert code == 2 and "approved" in err
    code, out, _ = run(capsys, "plan", "publish", str(pid), "--by", "li")
    assert code == 0 and "published" in out
    # editing the published plan without a new version is refused
    code, _, err = run(capsys, "plan", "edit", str(pid), "--file", str(efile), "--by", "li")
    assert code == 2 and "published" in err

    # 5. the drivers work the day: collect everything, skip one pickup, unload at stations
    skipped_ref = None
    with session_scope(eng) as s:
        plan = s.get_one(m.Plan, pid)
        work: list[tuple[str, list[dict[str, Any]]]] = []
        for r in plan.routes:
            driver = s.scalars(select(m.Driver).where(m.Driver.vehicle_id == r.vehicle_id)).one()
            evs: list[dict[str, Any]] = []
            for st in r.stops:
                at = dt.datetime.combine(DAY, dt.time(), tzinfo=dt.timezone(dt.timedelta(hours=8)))
                at += dt.timedelta(seconds=st.departure_s + 600)  # ten minutes late
                eid = f"e2e-{st.id:06d}"
                if st.kind == "pickup" and skipped_ref is None and st.booking.reference != ref:
                    skipped_ref = st.booking.reference
                    evs.append({"event_id": eid, "stop_id": st.id, "kind": "skipped",
                                "reason": "nobody home", "recorded_at": at.isoformat()})  # fmt: skip
                elif st.kind in ("pickup", "station"):
                    kg = {"paper": 10.0} if st.kind == "station" else {
                        x["material"]: float(x["kg"]) for x in st.booking.materials
                    }  # fmt: skip
                    evs.append({"event_id": eid, "stop_id": st.id, "kind": "collected",
                                "kg": kg, "recorded_at": at.isoformat()})  # fmt: skip
                elif st.kind == "unload":
                    evs.append({"event_id": eid, "stop_id": st.id, "kind": "unloaded",
                                "kg": {"paper": 1.0}, "recorded_at": at.isoformat()})  # fmt: skip
            work.append((driver.ref, evs))
        first_route_id = plan.routes[0].id
    expected_kg: dict[str, float] = {}
    for k, (driver_ref, evs) in enumerate(work):
        efile = tmp_path / f"events-{k}.json"
        efile.write_text(json.dumps(evs), "utf-8")
        if k == 0:
            # halfway through the first route: later ETAs carry the ten-minute delay
            half = tmp_path / "half.json"
            half.write_text(json.dumps(evs[: len(evs) // 2]), "utf-8")
            assert run(capsys, "events", "--driver", driver_ref, str(half))[0] == 0
            with session_scope(eng) as s:
                etas = route_etas(s, s.get_one(m.Route, first_route_id))
            last = max(k for k, e in enumerate(etas) if e["reported"])
            ahead = etas[last + 1 :]
            assert ahead and ahead[0]["delay_s"] > 0
            assert all(0 <= e["delay_s"] <= 600 for e in ahead)
            code, out, _ = run(capsys, "route", "--driver", driver_ref)
            assert code == 0 and "eta" in out
        code, out, err = run(capsys, "events", "--driver", driver_ref, str(efile))
        assert code == 0, err
        for ev in evs:
            if ev["kind"] == "collected":
                for mat, kg in ev["kg"].items():
                    expected_kg[mat] = expected_kg.get(mat, 0.0) + kg
    with session_scope(eng) as s:
        plan = s.get_one(m.Plan, pid)
        assert plan.status == "completed"
        mine = s.scalars(select(m.Booking).where(m.Booking.reference == ref)).one()
        statuses = [e.to_status for e in s.scalars(
            select(m.BookingEvent).where(m.BookingEvent.booking_id == mine.id)
            .order_by(m.BookingEvent.id)
        )]  # fmt: skip
        assert statuses == ["requested", "queued", "planned", "dispatched", "collected"]
        missed = s.scalars(select(m.Booking).where(m.Booking.reference == skipped_ref)).one()
        assert missed.status == "queued" and missed.date == DAY + dt.timedelta(days=1)
        assert missed.priority >= 1

    # 6. statistics and the carbon balance, from what the drivers recorded
    code, out, _ = run(
        capsys, "stats", "--from", DAY.isoformat(), "--to", DAY.isoformat(), "--json"
    )
    assert code == 0
    stats = json.loads(out)
    got: dict[str, float] = {}
    for row in stats["tonnage"]:
        got[row["material"]] = got.get(row["material"], 0.0) + row["kg"]
    assert got == pytest.approx(expected_kg, abs=0.2)
    futian = next(r for r in stats["coverage"] if r["district"] == "440304")
    assert futian["served"] > 0
    code, out, _ = run(capsys, "carbon", "--plan", str(pid), "--json")
    assert code == 0
    carbon = json.loads(out)
    assert carbon["basis"] == "recorded"
    assert carbon["collected_kg"] == pytest.approx(expected_kg, abs=0.2)
    assert carbon["vehicle_kg_co2e"] > 0 and carbon["avoided_kg_co2e"] > 0
    assert carbon["net_kg_co2e"] == pytest.approx(
        carbon["avoided_kg_co2e"] - carbon["vehicle_kg_co2e"], abs=0.2
    )
