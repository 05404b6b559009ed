"""The OR-Tools model of the daily collection problem (first version).

Modelled: several depots, heterogeneous fleet with per-profile travel matrices
(registered as matrices, not Python callbacks), shifts, service/dwell times, time
windows (several per stop), capacity in kg and litres, tail-lift-only stops, optional
stops with priority penalties, and a final unload: every route that collects anything
ends at a transfer station before returning to its depot, so it ends empty.
Not yet modelled (see the solver issue): intermediate unload trips, breaks,
time-dependent road rights.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from routing.errors import ProblemError
from routing.problem import Facility, Limits, Problem, Stop, Vehicle
from routing.result import Result, Route, Unassigned, Visit

_BIG_PENALTY = 1_000_000


def _end_transfer(
    problem: Problem, profile: str, depot: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every place: the cheapest (time, distance, facility) of unloading then going home."""
    sec = problem.seconds[profile]
    met = problem.metres[profile]
    n = len(problem.places)
    fac = problem.facilities
    if not fac:
        raise ProblemError("no transfer station can take the day's materials")
    cost = np.stack([sec[:, f.place] + f.unload_s + sec[f.place, depot] for f in fac])
    dist = np.stack([met[:, f.place] + met[f.place, depot] for f in fac])
    best = np.argmin(cost, axis=0)
    cols = np.arange(n)
    return cost[best, cols], dist[best, cols], best


def _usable_facilities(problem: Problem) -> tuple[Facility, ...]:
    materials = {m for s in problem.stops for m in s.materials}
    starts = [v.shift.start for v in problem.vehicles] or [0]
    ends = [v.shift.end for v in problem.vehicles] or [0]
    lo, hi = min(starts), max(ends)
    return tuple(
        f
        for f in problem.facilities
        if materials <= f.accepts and any(w.start <= lo and w.end >= hi for w in f.open)
    )


def solve(problem: Problem, limits: Limits) -> Result:
    """Solve ``problem`` within ``limits``; a pure function of its inputs.

    Raises
    ------
    ProblemError
        When no transfer station accepts every material of the day for the whole shift.
    """
    t0 = time.monotonic()
    facilities = _usable_facilities(problem)
    if problem.stops and not facilities:
        raise ProblemError(
            "no transfer station accepts every material of the day and is open for the whole shift"
        )
    prob = Problem(
        problem.places, problem.vehicles, problem.stops, facilities, problem.seconds, problem.metres
    )
    vehicles = prob.vehicles
    stops = prob.stops
    if not vehicles:
        return Result(
            (),
            tuple(Unassigned(s.id, "no_vehicle", "no vehicle in the fleet") for s in stops),
            {"status": "no_vehicles"},
        )

    depots = sorted({v.depot_place for v in vehicles})
    # Model nodes: one start per depot, one end per depot, then the stops.
    start_node = {d: i for i, d in enumerate(depots)}
    end_node = {d: len(depots) + i for i, d in enumerate(depots)}
    first_stop = 2 * len(depots)
    n_nodes = first_stop + len(stops)
    node_place = [*depots, *depots, *(s.place for s in stops)]
    service = [0] * first_stop + [s.service_s for s in stops]

    manager = pywrapcp.RoutingIndexManager(
        n_nodes,
        len(vehicles),
        [start_node[v.depot_place] for v in vehicles],
        [end_node[v.depot_place] for v in vehicles],
    )
    routing = pywrapcp.RoutingModel(manager)
    idx_place = np.array(node_place)

    transit_ids: dict[tuple[str, int], int] = {}
    end_info: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for vi, v in enumerate(vehicles):
        key = (v.profile, v.depot_place)
        if key not in transit_ids:
            sec = prob.seconds[v.profile]
            m = sec[np.ix_(idx_place, idx_place)].astype(np.int64)
            et, ed, ef = _end_transfer(prob, v.profile, v.depot_place)
            end_info[key] = (et, ed, ef)
            for d in depots:
                col = end_node[d]
                m[:, col] = et[idx_place] if d == v.depot_place else 10**7
                m[start_node[d], col] = 0  # an unused van goes nowhere
            m = m + np.array(service, dtype=np.int64)[:, None]
            transit_ids[key] = routing.RegisterTransitMatrix(m.tolist())
        routing.SetArcCostEvaluatorOfVehicle(transit_ids[key], vi)
        routing.SetFixedCostOfVehicle(v.fixed_cost, vi)

    horizon = 24 * 3600
    routing.AddDimensionWithVehicleTransits(
        [transit_ids[(v.profile, v.depot_place)] for v in vehicles], horizon, horizon, False, "time"
    )
    tdim = routing.GetDimensionOrDie("time")
    for vi, v in enumerate(vehicles):
        tdim.CumulVar(routing.Start(vi)).SetRange(v.shift.start, v.shift.end)
        tdim.CumulVar(routing.End(vi)).SetRange(v.shift.start, v.shift.end)
        routing.AddVariableMinimizedByFinalizer(tdim.CumulVar(routing.End(vi)))
        routing.AddVariableMaximizedByFinalizer(tdim.CumulVar(routing.Start(vi)))
    # Driver breaks: an interval inside the break window that no visit may overlap.
    node_visit = [0] * routing.Size()
    for index in range(routing.Size()):
        node = manager.IndexToNode(index)
        node_visit[index] = service[node]
    for vi, v in enumerate(vehicles):
        if v.break_window is None or v.break_s <= 0:
            continue
        w = v.break_window
        brk = routing.solver().FixedDurationIntervalVar(
            w.start, w.end - v.break_s, v.break_s, False, f"break-{vi}"
        )
        tdim.SetBreakIntervalsOfVehicle([brk], vi, node_visit)

    kg = [0] * first_stop + [s.demand_kg for s in stops]
    lt = [0] * first_stop + [s.demand_l for s in stops]
    kg_cb = routing.RegisterUnaryTransitVector(kg)
    l_cb = routing.RegisterUnaryTransitVector(lt)
    routing.AddDimensionWithVehicleCapacity(kg_cb, 0, [v.capacity_kg for v in vehicles], True, "kg")
    routing.AddDimensionWithVehicleCapacity(
        l_cb, 0, [v.capacity_l for v in vehicles], True, "litres"
    )

    tail_lift = [vi for vi, v in enumerate(vehicles) if v.tail_lift]
    unassigned: list[Unassigned] = []
    for k, s in enumerate(stops):
        node = first_stop + k
        index = manager.NodeToIndex(node)
        reason = _static_reason(prob, s, tail_lift)
        if reason is not None:
            unassigned.append(reason)
            routing.AddDisjunction([index], 0)
            routing.VehicleVar(index).SetValues([-1])
            continue
        cum = tdim.CumulVar(index)
        wins = sorted((w.start, w.end - s.service_s) for w in s.windows)
        cum.SetRange(wins[0][0], wins[-1][1])
        for (_, a_end), (b_start, _) in itertools.pairwise(wins):
            if b_start - a_end > 1:
                cum.RemoveInterval(a_end + 1, b_start - 1)
        if s.needs_tail_lift:
            routing.VehicleVar(index).SetValues([-1, *tail_lift])
        routing.AddDisjunction([index], _BIG_PENALTY * (1 + s.priority))

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    )
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(int(limits.time_limit_s * 1000))
    solution = routing.SolveWithParameters(params)
    if solution is None:
        raise ProblemError("the solver found no solution (not even an empty plan)")

    routes: list[Route] = []
    for vi, v in enumerate(vehicles):
        idx = routing.Start(vi)
        seq: list[int] = []
        idx = solution.Value(routing.NextVar(idx))
        while not routing.IsEnd(idx):
            seq.append(manager.IndexToNode(idx) - first_stop)
            idx = solution.Value(routing.NextVar(idx))
        if not seq:
            continue
        starts = []
        idx = solution.Value(routing.NextVar(routing.Start(vi)))
        while not routing.IsEnd(idx):
            starts.append(solution.Value(tdim.CumulVar(idx)))
            idx = solution.Value(routing.NextVar(idx))
        route = _timeline(
            prob, v, [stops[k] for k in seq], starts, end_info[(v.profile, v.depot_place)][2]
        )
        routes.append(_with_break(prob, v, route))

    served = {vis.ref for r in routes for vis in r.visits}
    known = {u.stop_id for u in unassigned}
    for s in stops:
        if s.id not in served and s.id not in known:
            unassigned.append(_dynamic_reason(prob, s, routes))
    stats: dict[str, float | int | str] = {
        "status": "solved",
        "objective": int(solution.ObjectiveValue()),
        "wall_s": round(time.monotonic() - t0, 3),
        "vehicles_used": len(routes),
        "stops_served": len(served & {s.id for s in stops}),
        "stops_unassigned": len(unassigned),
        "distance_m": sum(r.distance_m for r in routes),
        "duration_s": sum(r.duration_s for r in routes),
    }
    return Result(tuple(routes), tuple(unassigned), stats)


def _timeline(
    prob: Problem, v: Vehicle, seq: list[Stop], starts: list[int], end_fac: np.ndarray
) -> Route:
    sec = prob.seconds[v.profile]
    met = prob.metres[v.profile]
    visits: list[Visit] = []
    # Leave the depot just in time for the first stop's planned start.
    first_travel = int(sec[v.depot_place, seq[0].place])
    depart = max(v.shift.start, starts[0] - first_travel)
    visits.append(Visit("depot", "depot", v.depot_place, v.shift.start, depart, depart, 0, 0))
    kg = lt = 0
    prev, dist = v.depot_place, 0
    for s, st in zip(seq, starts, strict=True):
        arrival = depart + int(sec[prev, s.place])
        dist += int(met[prev, s.place])
        kg += s.demand_kg
        lt += s.demand_l
        depart = st + s.service_s
        visits.append(Visit(s.kind, s.id, s.place, arrival, st, depart, kg, lt))
        prev = s.place
    fac = prob.facilities[int(end_fac[prev])]
    arrival = depart + int(sec[prev, fac.place])
    dist += int(met[prev, fac.place])
    depart = arrival + fac.unload_s
    visits.append(Visit("unload", fac.id, fac.place, arrival, arrival, depart, 0, 0))
    home = depart + int(sec[fac.place, v.depot_place])
    dist += int(met[fac.place, v.depot_place])
    visits.append(Visit("depot", "depot", v.depot_place, home, home, home, 0, 0))
    return Route(v.id, tuple(visits), dist, home - visits[0].departure)


def _with_break(prob: Problem, v: Vehicle, route: Route) -> Route:
    """Insert the driver's break where the timeline has room for it.

    The model reserves the time (a break interval no visit overlaps); here it is placed
    at a concrete stop: right after a visit (then the van drives on) or on arrival at
    the next one (then it waits there), without moving any later planned start. If the
    van is not out over the whole break window, the break is taken off the road.
    """
    w = v.break_window
    d = v.break_s
    vis = list(route.visits)
    if w is None or d <= 0 or not (vis[0].departure < w.start and vis[-1].arrival > w.end):
        return route
    sec = prob.seconds[v.profile]
    for k in range(len(vis) - 1):
        a, b = vis[k], vis[k + 1]
        t = int(sec[a.place, b.place])
        # Break where the van is, then drive.
        s0 = max(a.departure, w.start)
        if s0 + d <= w.end and s0 + d + t <= b.start:
            brk = Visit("break", "break", a.place, s0, s0, s0 + d, a.load_kg, a.load_l)
            nxt = Visit(
                b.kind, b.ref, b.place, s0 + d + t, b.start, b.departure, b.load_kg, b.load_l
            )
            return Route(
                route.vehicle_id,
                (*vis[: k + 1], brk, nxt, *vis[k + 2 :]),
                route.distance_m,
                route.duration_s,
            )
        # Drive, then break on arrival while waiting for the planned start.
        arr = a.departure + t
        s1 = max(arr, w.start)
        if s1 + d <= w.end and s1 + d <= b.start:
            brk = Visit("break", "break", b.place, arr, s1, s1 + d, a.load_kg, a.load_l)
            nxt = Visit(b.kind, b.ref, b.place, s1 + d, b.start, b.departure, b.load_kg, b.load_l)
            return Route(
                route.vehicle_id,
                (*vis[: k + 1], brk, nxt, *vis[k + 2 :]),
                route.distance_m,
                route.duration_s,
            )
    # Last resort: after the final unload, delaying the return home within the shift.
    a, b = vis[-2], vis[-1]
    t = int(sec[a.place, b.place])
    s0 = max(a.departure, w.start)
    if s0 + d <= w.end and s0 + d + t <= v.shift.end:
        brk = Visit("break", "break", a.place, s0, s0, s0 + d, a.load_kg, a.load_l)
        home = s0 + d + t
        end = Visit("depot", b.ref, b.place, home, home, home, 0, 0)
        return Route(
            route.vehicle_id, (*vis[:-1], brk, end), route.distance_m, home - vis[0].departure
        )
    return route  # no room found: the legality replay will report the missing break


def _static_reason(prob: Problem, s: Stop, tail_lift: list[int]) -> Unassigned | None:
    """Reasons that need no search: nobody could ever serve this stop."""
    if not s.windows:
        return Unassigned(
            s.id, "no_window", "no permitted window on this day is long enough for the visit"
        )
    if s.needs_tail_lift and not tail_lift:
        return Unassigned(s.id, "no_class_allowed", "needs a tail-lift truck and none is on shift")
    fleet = [v for v in prob.vehicles if v.tail_lift or not s.needs_tail_lift]
    if not any(s.demand_kg <= v.capacity_kg and s.demand_l <= v.capacity_l for v in fleet):
        return Unassigned(s.id, "capacity", "larger than the capacity of every eligible van")
    reachable = False
    for v in fleet:
        sec = prob.seconds[v.profile]
        earliest = v.shift.start + int(sec[v.depot_place, s.place])
        back = int(sec[s.place, v.depot_place])
        for w in s.windows:
            st = max(earliest, w.start)
            if st + s.service_s <= w.end and st + s.service_s + back <= v.shift.end:
                reachable = True
    if not reachable:
        return Unassigned(
            s.id,
            "window_unreachable",
            "no van can reach it inside its window and still get home within its shift",
        )
    return None


def _fits_in_time(prob: Problem, v: Vehicle, route: Route, s: Stop) -> bool:
    """Whether ``s`` fits between two visits of ``route`` without moving any later start."""
    sec = prob.seconds[v.profile]
    for a, b in itertools.pairwise(route.visits):
        if b.kind == "unload" or a.kind == "unload":
            continue  # keep the final unload right before the depot
        arrive = a.departure + int(sec[a.place, s.place])
        for w in s.windows:
            start = max(arrive, w.start)
            if (
                start + s.service_s <= w.end
                and start + s.service_s + int(sec[s.place, b.place]) <= b.start
            ):
                return True
    return False


def _dynamic_reason(prob: Problem, s: Stop, routes: list[Route]) -> Unassigned:
    """Why the search left out a stop that some van could serve on its own."""
    by_id = {v.id: v for v in prob.vehicles}
    used = {r.vehicle_id for r in routes}
    eligible = [v for v in prob.vehicles if v.tail_lift or not s.needs_tail_lift]
    if any(v.id not in used for v in eligible):
        return Unassigned(
            s.id,
            "not_inserted",
            "a free van could take it, but the search did not place it within its time limit; "
            "stays queued",
        )
    time_ok = cap_ok = False
    for r in routes:
        v = by_id[r.vehicle_id]
        if v not in eligible:
            continue
        peak_kg = max(x.load_kg for x in r.visits)
        peak_l = max(x.load_l for x in r.visits)
        fits_cap = peak_kg + s.demand_kg <= v.capacity_kg and peak_l + s.demand_l <= v.capacity_l
        fits_time = _fits_in_time(prob, v, r, s)
        cap_ok |= fits_cap
        time_ok |= fits_time
    what = "tail-lift vans" if s.needs_tail_lift else "vans"
    if not time_ok:
        return Unassigned(
            s.id,
            "shift_full",
            f"the {what} on shift have no time left in its window; rolls over with higher priority",
        )
    if not cap_ok:
        return Unassigned(
            s.id, "capacity_full", f"the {what} on shift are full; rolls over with higher priority"
        )
    return Unassigned(
        s.id,
        "fleet_full",
        f"the {what} that have room lack the time, and those with time lack the room; "
        "rolls over with higher priority",
    )
