"""The planner end to end on the demo database: road rights in, legality replay out."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from dispatch import models as m
from dispatch import planning
from dispatch.db import make_engine, session_scope
from dispatch.settings import Settings
from road_rules.hours import day_windows
from routing.problem import Limits
from routing.result import Result, Route, Visit
from routing.solver import solve as real_solve

DAY = dt.date(2026, 12, 1)


def _plans(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc.get("plans", [doc])


def _secs(iso: str) -> int:
    t = dt.datetime.fromisoformat(iso)
    return t.hour * 3600 + t.minute * 60 + t.second


def test_stationing_windows_come_from_the_district_rules(
    demo_plan: dict[str, Any], demo_settings: Settings
) -> None:
    """Each stationing visit's windows are its point's own hours intersected with the district's rule."""
    engine = make_engine(demo_settings.database_url)
    with session_scope(engine) as s:
        own = {cp.ref: cp.stationing_hours for cp in s.scalars(select(m.CollectionPoint))}
    rule = day_windows("Mo-Sa 09:00-11:30,14:30-17:00; PH off", DAY)  # FT/NS-STATION-01
    n = 0
    for p in _plans(demo_plan):
        for r in p["routes"]:
            for x in r["stops"]:
                if x["kind"] != "station":
                    continue
                n += 1
                wins = [(_secs(a), _secs(b)) for a, b in x["windows"]]
                for a, b in wins:
                    assert any(ra <= a and b <= rb for ra, rb in rule)
                    assert any(oa <= a and b <= ob for oa, ob in day_windows(own[x["id"]], DAY))
                start, end = _secs(x["start"]), _secs(x["departure"])
                assert any(a <= start and end <= b for a, b in wins)
    assert n > 5


def test_light_diesel_vans_keep_off_arterials_in_the_peak(
    demo_plan: dict[str, Any], network: Any
) -> None:
    """No light diesel van is on a primary or trunk road during the workday peak bans."""
    g = network.graph
    checked = 0
    for p in _plans(demo_plan):
        classes = {v["plate"]: v for v in p["vehicles"]}
        for r in p["routes"]:
            v = classes[r["vehicle"]]
            if v["class"] != "light_diesel":
                continue
            for x in r["stops"]:
                leg = x.get("leg") or {}
                for (a, b), t in zip(
                    zip(leg.get("nodes", []), leg.get("nodes", [])[1:], strict=False),
                    leg.get("enter_times", []),
                    strict=False,
                ):
                    hw = g.edges[a, b, 0].get("highway") if g.has_edge(a, b, 0) else None
                    kinds = hw if isinstance(hw, list) else [hw]
                    s = _secs(t)
                    in_peak = 7 * 3600 <= s < 9.5 * 3600 or 17 * 3600 <= s < 20 * 3600
                    if in_peak:
                        assert not set(kinds) & {"primary", "trunk", "primary_link", "trunk_link"}
                    checked += 1
    assert checked > 100


def test_an_illegal_solver_answer_is_refused_and_nothing_is_stored(
    demo_plan: dict[str, Any],
    demo_settings: Settings,
    network: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A solver answer with a stop moved outside its window is caught by the replay and not saved."""

    def broken_solve(problem: Any, limits: Limits) -> Result:
        res = real_solve(problem, limits)
        r0 = res.routes[0]
        i = next(k for k, v in enumerate(r0.visits) if v.kind == "pickup")
        v = r0.visits[i]
        late = Visit(
            v.kind,
            v.ref,
            v.place,
            v.arrival + 6 * 3600,
            v.start + 6 * 3600,
            v.departure + 6 * 3600,
            v.load_kg,
            v.load_l,
        )
        bad = Route(
            r0.vehicle_id, (*r0.visits[:i], late, *r0.visits[i + 1 :]), r0.distance_m, r0.duration_s
        )
        return dataclasses.replace(res, routes=(bad, *res.routes[1:]))

    monkeypatch.setattr(planning, "solve", broken_solve)
    engine = make_engine(demo_settings.database_url)
    with session_scope(engine) as s:
        before = s.scalar(select(func.count()).select_from(m.Plan))
        statuses = sorted(s.scalars(select(m.Booking.status)))
    with pytest.raises(planning.IllegalPlanError) as err, session_scope(engine) as s:
        planning.build_plan(
            s,
            network,
            "440305",
            DAY,
            limits=Limits(time_limit_s=1),
            rules_dir=demo_settings.rules_dir,
        )
    assert any(v.rule in ("window", "timing") for v in err.value.violations)
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(m.Plan)) == before
        assert sorted(s.scalars(select(m.Booking.status))) == statuses
