"""The routing model, one feature per test, on small hand-made problems."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from routing.errors import ProblemError
from routing.problem import Facility, Limits, Place, Problem, Stop, Vehicle, Window
from routing.result import Result, Route
from routing.solver import MAX_STRETCH, _solve_one, solve

DAY = Window(8 * 3600, 18 * 3600)
LIMITS = Limits(time_limit_s=1)
OPEN = Window(7 * 3600, 21 * 3600)


def line_problem(
    n_places: int,
    vehicles: list[Vehicle],
    stops: list[Stop],
    facilities: list[Facility],
    *,
    step_s: int = 120,
) -> Problem:
    """Places on a line, ``step_s`` seconds (and 1 km) apart."""
    pos = np.arange(n_places)
    sec = np.abs(pos[:, None] - pos[None, :]) * step_s
    met = np.abs(pos[:, None] - pos[None, :]) * 1000
    places = tuple(Place(f"p{i}", 114.0 + i / 1000, 22.5, i, 0.0) for i in range(n_places))
    keys = {v.profile for v in vehicles}
    return Problem(
        places,
        tuple(vehicles),
        tuple(stops),
        tuple(facilities),
        {k: sec for k in keys},
        {k: met for k in keys},
    )


def van(
    vid: str = "V1",
    *,
    cap_kg: int = 1000,
    tail_lift: bool = False,
    depot: int = 0,
    shift: Window = DAY,
    brk: Window | None = None,
    break_s: int = 0,
) -> Vehicle:
    return Vehicle(
        vid, "m", depot, shift, cap_kg, 10_000, tail_lift, break_window=brk, break_s=break_s
    )


def pickup(
    sid: str,
    place: int,
    kg: int = 50,
    mats: tuple[str, ...] = ("paper",),
    *,
    window: Window = DAY,
    tail: bool = False,
    service_s: int = 300,
) -> Stop:
    return Stop(sid, "pickup", place, service_s, (window,), kg, 100, mats, needs_tail_lift=tail)


def station(
    fid: str,
    place: int,
    accepts: tuple[str, ...] = ("paper", "metal", "e_waste", "furniture"),
    open_: Window = OPEN,
) -> Facility:
    return Facility(fid, place, (open_,), frozenset(accepts), 600)


def kinds(route: Route) -> str:
    return "".join(v.kind[0] for v in route.visits)


def loads_before_unloads(route: Route) -> list[int]:
    out, prev = [], 0
    for v in route.visits:
        if v.kind == "unload":
            out.append(prev)
        prev = v.load_kg
    return out


def test_capacity_forces_an_unload_trip() -> None:
    """A van too small for the day's load unloads mid-route and serves everything."""
    stops = [pickup(f"s{i}", 5 + i, kg=60) for i in range(3)]
    res = solve(line_problem(10, [van(cap_kg=100)], stops, [station("T", 3)]), LIMITS)
    assert not res.unassigned
    (route,) = res.routes
    assert kinds(route).count("u") >= 2  # at least one trip mid-route plus the final one
    assert max(v.load_kg for v in route.visits) <= 100


def test_every_route_ends_empty_at_a_station() -> None:
    """The last action before the depot is an unload, and the van comes home empty."""
    res = solve(
        line_problem(6, [van()], [pickup("a", 4), pickup("b", 5)], [station("T", 2)]), LIMITS
    )
    (route,) = res.routes
    assert route.visits[-1].kind == "depot" and route.visits[-1].load_kg == 0
    assert [v.kind for v in route.visits if v.kind != "break"][-2] == "unload"


def test_a_station_refusing_a_material_never_receives_it() -> None:
    """With e-waste on board the van unloads only where e-waste is accepted."""
    near = station("NEAR", 3, accepts=("paper",))
    far = station("FAR", 9, accepts=("paper", "e_waste"))
    stops = [
        pickup("p1", 4, 60, ("paper",)),
        pickup("e1", 5, 60, ("e_waste",)),
        pickup("p2", 6, 60, ("paper",)),
    ]
    res = solve(line_problem(10, [van(cap_kg=100)], stops, [near, far]), LIMITS)
    assert not res.unassigned
    (route,) = res.routes
    onboard: set[str] = set()
    mats = {s.id: set(s.materials) for s in stops}
    for v in route.visits:
        if v.kind == "unload":
            if v.ref == "NEAR":
                assert "e_waste" not in onboard
            onboard = set()
        onboard |= mats.get(v.ref, set())


def test_tail_lift_stop_goes_to_a_tail_lift_van() -> None:
    """Furniture is collected by the van with a tail lift, not the nearer one without."""
    vans = [van("PLAIN"), van("LIFT", tail_lift=True, depot=9)]
    stops = [pickup("sofa", 1, 60, ("furniture",), tail=True), pickup("paper", 2)]
    res = solve(line_problem(10, vans, stops, [station("T", 5)]), LIMITS)
    assert not res.unassigned
    by_stop = {v.ref: r.vehicle_id for r in res.routes for v in r.visits}
    assert by_stop["sofa"] == "LIFT"


def test_driver_break_is_taken_inside_its_window() -> None:
    """A van out all day takes its 30-minute break between 12:00 and 14:00."""
    stops = [
        pickup(f"s{i}", 1 + i % 8, window=Window(8 * 3600 + i * 1800, 9 * 3600 + i * 1800))
        for i in range(16)
    ]
    v = van(brk=Window(12 * 3600, 14 * 3600), break_s=1800)
    res = solve(line_problem(10, [v], stops, [station("T", 5)]), LIMITS)
    (route,) = res.routes
    breaks = [x for x in route.visits if x.kind == "break"]
    assert len(breaks) == 1
    b = breaks[0]
    assert b.departure - b.start >= 1800 and b.start >= 12 * 3600 and b.departure <= 14 * 3600
    # No visit overlaps the break.
    for x in route.visits:
        if x.kind in ("pickup", "unload"):
            assert x.departure <= b.start or x.start >= b.departure


def test_windows_are_respected() -> None:
    """Every stop starts inside its window, however the route is ordered."""
    stops = [
        pickup("late", 1, window=Window(15 * 3600, 16 * 3600)),
        pickup("early", 8, window=Window(9 * 3600, 10 * 3600)),
    ]
    res = solve(line_problem(10, [van()], stops, [station("T", 5)]), LIMITS)
    starts = {v.ref: v.start for r in res.routes for v in r.visits}
    assert 9 * 3600 <= starts["early"] <= 10 * 3600 - 300
    assert 15 * 3600 <= starts["late"] <= 16 * 3600 - 300


@pytest.mark.parametrize(
    ("stop", "vehicles", "reason"),
    [
        (pickup("sofa", 2, tail=True, mats=("furniture",)), [van()], "no_class_allowed"),
        (pickup("heavy", 2, kg=5000), [van()], "capacity"),
        (pickup("dawn", 2, window=Window(5 * 3600, 6 * 3600)), [van()], "window_unreachable"),
        (pickup("glass", 2, mats=("glass",)), [van()], "no_station"),
    ],
)
def test_unassigned_stops_carry_the_right_reason(
    stop: Stop, vehicles: list[Vehicle], reason: str
) -> None:
    """A stop no van can serve is left out with the reason that applies."""
    res = solve(line_problem(6, vehicles, [stop, pickup("ok", 3)], [station("T", 4)]), LIMITS)
    got = {u.stop_id: u.reason for u in res.unassigned}
    assert got == {stop.id: reason}


def test_shift_full_when_the_fleet_has_no_time_left() -> None:
    """Twenty one-hour visits in a two-hour shift: most are left out as shift_full, none dropped silently."""
    stops = [pickup(f"s{i}", 1 + i % 5, service_s=3600) for i in range(20)]
    res = solve(
        line_problem(6, [van(shift=Window(8 * 3600, 10 * 3600))], stops, [station("T", 3)]), LIMITS
    )
    served = {v.ref for r in res.routes for v in r.visits if v.kind == "pickup"}
    reasons = {u.stop_id: u.reason for u in res.unassigned}
    assert served | set(reasons) == {s.id for s in stops} and not served & set(reasons)
    assert reasons and set(reasons.values()) <= {"shift_full", "fleet_full", "not_inserted"}
    assert "shift_full" in reasons.values()


def test_no_vehicle_means_every_stop_unassigned() -> None:
    """Without a fleet the result is empty and every stop says why."""
    res = solve(line_problem(4, [], [pickup("a", 1)], [station("T", 2)]), LIMITS)
    assert isinstance(res, Result) and not res.routes
    assert [u.reason for u in res.unassigned] == ["no_vehicle"]


def test_malformed_inputs_are_refused() -> None:
    """A shift that ends before it starts, a window that ends before it starts: clear errors."""
    with pytest.raises(ProblemError, match="shift"):
        Vehicle("X", "m", 0, Window(20, 20), 1, 1)
    with pytest.raises(ProblemError, match="window"):
        Window(100, 50)
    with pytest.raises(ProblemError, match="negative capacity"):
        van(cap_kg=-1)


def test_pinned_prefix_opens_the_route_in_order() -> None:
    """Finished and current stops pinned to a van stay first on its route, in the given order."""
    stops = [pickup(f"s{i}", 1 + i) for i in range(6)]
    vans = [van("A"), van("B")]
    prob = line_problem(10, vans, stops, [station("T", 8)])
    pinned = dict(prob.pinned)
    pinned["B"] = ("s5", "s0")  # an order no optimiser would choose
    import dataclasses

    res = solve(dataclasses.replace(prob, pinned=pinned), LIMITS)
    route_b = next(r for r in res.routes if r.vehicle_id == "B")
    work = [v.ref for v in route_b.visits if v.kind == "pickup"]
    assert work[:2] == ["s5", "s0"]
    assert not res.unassigned


def test_warm_start_from_a_given_plan_is_kept_or_improved() -> None:
    """Starting from given routes gives a plan at least as cheap as those routes."""
    import dataclasses

    stops = [pickup(f"s{i}", 1 + i % 9) for i in range(9)]
    prob = line_problem(10, [van("A"), van("B")], stops, [station("T", 5)])
    start = {
        "A": tuple(f"s{i}" for i in range(0, 9, 2)),
        "B": tuple(f"s{i}" for i in range(1, 9, 2)),
    }
    res = solve(dataclasses.replace(prob, initial_routes=start), LIMITS)
    assert not res.unassigned
    assert res.stats["distance_m"] <= 2 * 2 * 10 * 1000  # never worse than two out-and-back sweeps


def test_pins_naming_unknown_stops_are_refused() -> None:
    """A pinned route that names a stop the problem does not have is a clear error."""
    import dataclasses

    prob = line_problem(4, [van("A")], [pickup("s1", 1)], [station("T", 2)])
    with pytest.raises(ProblemError, match="unknown stops"):
        dataclasses.replace(prob, pinned={"A": ("nope",)})


def test_a_limit_too_short_for_a_first_solution_is_stretched_not_an_empty_plan() -> None:
    """OR-Tools answers "serve nobody" when time runs out before its first solution; the
    solver stretches the limit instead of returning an empty plan, and says so."""
    stops = [pickup(f"s{i}", 1 + i % 199, kg=10) for i in range(300)]
    prob = line_problem(200, [van(f"V{k}") for k in range(8)], stops, [station("T", 100)])
    res = _solve_one(prob, Limits(time_limit_s=0.001))
    assert res.routes, "an empty plan although vans and servable stops exist"
    assert res.stats["time_limit_stretched_to"] > 0.001
    assert res.stats["time_limit_stretched_to"] <= 0.001 * MAX_STRETCH


def test_a_stop_only_a_forbidden_road_leads_to_is_left_out_as_no_legal_path() -> None:
    """When the road rights leave no path from a van's depot to a stop and back (the matrix
    reads UNREACHABLE for every eligible van), the stop is unassigned as no_legal_path, not
    as a window or shift problem."""
    from routing.matrix import UNREACHABLE

    prob = line_problem(6, [van()], [pickup("cut", 4), pickup("ok", 3)], [station("T", 2)])
    sec = prob.seconds["m"].copy()
    sec[4, :] = UNREACHABLE  # no way back from place 4
    sec[4, 4] = 0
    prob = dataclasses.replace(prob, seconds={"m": sec})
    res = solve(prob, LIMITS)
    assert {u.stop_id: u.reason for u in res.unassigned} == {"cut": "no_legal_path"}
    assert {v.ref for r in res.routes for v in r.visits if v.kind == "pickup"} == {"ok"}
