"""Slot suggestions: checked by insertion into the draft plan, or against fleet capacity."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from dispatch import booking
from dispatch import models as m
from dispatch.cli import _demo_scenario, build_plans, do_import
from dispatch.db import make_engine, session_scope
from dispatch.editing import current_sequences, edit_plan
from dispatch.errors import InvalidInput
from dispatch.settings import Settings
from dispatch.slots import SLOTS, suggest
from routing.network import RoadNetwork

DAY = dt.date(2026, 12, 1)
TODAY = DAY - dt.timedelta(days=1)
PLACE = {"lat": 22.5405, "lon": 114.0560}  # Futian, near Shennan Road


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    url = f"sqlite:///{tmp_path_factory.mktemp('slots') / 'slots.db'}"
    s = dataclasses.replace(Settings.from_env(), database_url=url)
    do_import(s, _demo_scenario(s, DAY, 7), None)
    build_plans(s, DAY, ["440304"], 2.0)
    yield s


def _ask(world: Settings, network: RoadNetwork, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        **PLACE,
        "materials": [{"material": "paper", "kg": 20, "m3": 0.2}],
        **over,
    }
    with session_scope(make_engine(world.database_url)) as s:
        return suggest(s, network, body, today=TODAY, days=3, rules_dir=world.rules_dir)


def test_suggestions_use_the_draft_plan_then_fleet_capacity_best_first(
    world: Settings, network: RoadNetwork
) -> None:
    out = _ask(world, network)
    assert out["district"] == "440304"
    slots = out["slots"]
    assert slots, out["refused"]
    assert [r["rank"] for r in slots] == list(range(1, len(slots) + 1))
    # the planned day is checked by insertion, the days without a plan by capacity
    first_day = [r for r in slots if r["date"] == DAY.isoformat()]
    later = [r for r in slots if r["date"] != DAY.isoformat()]
    assert first_day and all(r["basis"].startswith("insertion into plan") for r in first_day)
    assert later and all(r["basis"].startswith("fleet capacity") for r in later)
    # best first: costs never fall by more than the 5-minute rounding
    costs = [r["extra_minutes"] for r in slots]
    assert all(b >= a - 5 for a, b in itertools.pairwise(costs))
    # every slot is one of the offered windows; each day/window at most once
    offered = {(f"{a:%H:%M}", f"{b:%H:%M}") for a, b in SLOTS}
    assert all((r["start"], r["end"]) in offered for r in slots)
    keys = [(r["date"], r["start"]) for r in [*slots, *out["refused"]]]
    assert len(keys) == len(set(keys)) == 3 * len(SLOTS)
    for r in first_day:
        eta = dt.time.fromisoformat(r["eta"])
        assert dt.time.fromisoformat(r["start"]) <= eta <= dt.time.fromisoformat(r["end"])


def test_the_top_insertion_suggestion_really_fits_the_plan(
    world: Settings, network: RoadNetwork
) -> None:
    """Book the best slot of the planned day, put it where the suggestion said: the
    re-timer and the legality checker accept the edited plan."""
    out = _ask(world, network)
    top = next(r for r in out["slots"] if r["date"] == DAY.isoformat())
    eng = make_engine(world.database_url)
    with session_scope(eng) as s:
        b, _ = booking.create_booking(
            s,
            {
                "resident": {"name": "李雷", "phone": "13800138001"},
                "address": "福田区深南大道",
                **PLACE,
                "materials": [{"material": "paper", "kg": 20, "m3": 0.2}],
                "date": DAY.isoformat(),
                "window": {"start": top["start"], "end": top["end"]},
            },
            today=TODAY,
            snap_distance=lambda lon, lat: 0.0,
        )
        plan = s.scalars(select(m.Plan).where(m.Plan.date == DAY, m.Plan.status == "draft")).one()
        seqs = current_sequences(plan)
        seqs[top["vehicle"]].insert(top["position"], b.reference)
        new = edit_plan(s, network, plan.id, seqs, by="test", rules_dir=world.rules_dir)
        served = {st.booking.reference for r in new.routes for st in r.stops if st.booking}
        assert b.reference in served


def test_a_full_fleet_and_bad_input_are_refused(world: Settings, network: RoadNetwork) -> None:
    # 900 kg of furniture needs a tail lift and more room than a door-to-door stop has
    out = _ask(world, network, materials=[{"material": "furniture", "kg": 450, "m3": 4.5}] * 2)
    assert all("reason" in r for r in out["refused"])
    with pytest.raises(InvalidInput) as err:
        _ask(world, network, materials=[{"material": "plutonium", "kg": 1}])
    assert "materials[0].material" in err.value.problems
    with pytest.raises(InvalidInput) as err:
        _ask(world, network, lat=23.5, lon=113.0)  # far outside Shenzhen
    assert "lat/lon" in err.value.problems
    with session_scope(make_engine(world.database_url)) as s, pytest.raises(InvalidInput) as err:
        suggest(s, network, {**PLACE, "materials": []}, today=TODAY, days=30)
    assert "days" in err.value.problems
