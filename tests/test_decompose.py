"""Decomposition by area: the split partitions stops and fleet; the merged answer is whole."""

from __future__ import annotations

import numpy as np
import pytest

from routing import decompose
from routing.problem import Facility, Limits, Place, Problem, Stop, Vehicle, Window
from routing.solver import _solve_one

DAY = Window(8 * 3600, 18 * 3600)


def grid_problem(n_stops: int, n_vans: int, *, lift_every: int = 5) -> Problem:
    """Stops on a 2-D grid; travel 60 s per unit of Manhattan distance."""
    rng = np.random.default_rng(4)
    pts = np.vstack([[0.0, 0.0], rng.uniform(0, 20, size=(n_stops, 2)), [[10.0, 10.0]]])
    sec = (np.abs(pts[:, None, :] - pts[None, :, :]).sum(axis=2) * 60).astype(np.int64)
    places = tuple(
        Place(f"p{i}", 114 + x / 100, 22.5 + y / 100, i, 0.0) for i, (x, y) in enumerate(pts)
    )
    stops = tuple(
        Stop(
            f"s{i}",
            "pickup",
            i + 1,
            300,
            (DAY,),
            20,
            50,
            ("paper",),
            needs_tail_lift=i % lift_every == 0,
        )
        for i in range(n_stops)
    )
    vans = tuple(
        Vehicle(f"v{j}", "m", 0, DAY, 1000, 8000, tail_lift=j % 3 == 0) for j in range(n_vans)
    )
    fac = (
        Facility(
            "T", len(pts) - 1, (Window(6 * 3600, 22 * 3600),), frozenset({"paper"}), 600, 100_000
        ),
    )
    return Problem(places, vans, stops, fac, {"m": sec}, {"m": sec * 10})


def test_split_partitions_stops_and_fleet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every stop and every van lands in exactly one area; tail-lift vans go where bulky items are."""
    monkeypatch.setattr(decompose, "AREA_STOPS", 30)
    prob = grid_problem(120, 12)
    subs = decompose.split(prob)
    assert len(subs) == 4
    stop_ids = [s.id for p in subs for s in p.stops]
    van_ids = [v.id for p in subs for v in p.vehicles]
    assert sorted(stop_ids) == sorted(s.id for s in prob.stops)
    assert sorted(van_ids) == sorted(v.id for v in prob.vehicles)
    for p in subs:
        if any(s.needs_tail_lift for s in p.stops):
            assert any(v.tail_lift for v in p.vehicles)
    # Station intake is shared, so the areas together cannot exceed it.
    assert sum(p.facilities[0].daily_intake_kg or 0 for p in subs) <= 100_000


def test_by_area_answer_serves_each_stop_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Merged routes use each van at most once and each stop at most once; the rest have reasons."""
    monkeypatch.setattr(decompose, "AREA_STOPS", 30)
    prob = grid_problem(90, 9)
    res = decompose.solve_by_area(prob, Limits(time_limit_s=3), _solve_one)
    vans = [r.vehicle_id for r in res.routes]
    assert len(vans) == len(set(vans))
    served = [v.ref for r in res.routes for v in r.visits if v.kind == "pickup"]
    assert len(served) == len(set(served))
    assert set(served) | {u.stop_id for u in res.unassigned} == {s.id for s in prob.stops}
    assert len(served) >= 80
    assert "areas" in str(res.stats["engine"])
