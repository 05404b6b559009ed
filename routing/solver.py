"""The OR-Tools model of the daily collection problem.

Modelled: several depots; a heterogeneous fleet with per-group travel matrices
(registered as matrices, not Python callbacks); shifts and a driver break; service and
dwell times; time windows (several per stop); capacity in kg and litres; **unload
trips**: optional visits to copies of each transfer station, inside its opening hours,
that empty the van (a station may be visited many times by many vans; a station
refusing a material cannot be reached while that material is on board); every route
**ends empty** (the load at the depot is zero, so the last action after collecting is
an unload); tail-lift-only stops; optional stops with priority penalties; and a reason
for every stop left out.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from dataclasses import dataclass

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from routing.errors import ProblemError
from routing.matrix import UNREACHABLE
from routing.problem import Facility, Limits, Problem, Stop, Vehicle
from routing.result import Result, Route, Unassigned, Visit

_BIG_PENALTY = 1_000_000
#: Above this many stops the insertion heuristics are too slow for a first solution.
LARGE = 400


@dataclass(frozen=True)
class _Unload:
    facility: Facility
    copy: int


def _unload_copies(prob: Problem) -> list[_Unload]:
    """Optional unload visits per station: enough for several trips per van, within daily intake."""
    open_fac = [f for f in prob.facilities if f.open and f.accepts]
    if not open_fac or not prob.vehicles:
        return []
    max_cap = max(v.capacity_kg for v in prob.vehicles) or 1
    per = max(2, math.ceil(3 * len(prob.vehicles) / len(open_fac)))
    out = []
    for f in open_fac:
        n = per
        if f.daily_intake_kg is not None:
            n = min(
                n, max(1, f.daily_intake_kg // max_cap)
            )  # a full van per visit stays within intake
        out += [_Unload(f, k) for k in range(n)]
    return out


def _material_groups(
    prob: Problem, facs: list[Facility]
) -> list[tuple[frozenset[str], frozenset[str]]]:
    """Materials grouped by the set of stations accepting them; only groups some station refuses."""
    ids = frozenset(f.id for f in facs)
    by_sig: dict[frozenset[str], set[str]] = {}
    for m in sorted({m for s in prob.stops for m in s.materials}):
        sig = frozenset(f.id for f in facs if m in f.accepts)
        by_sig.setdefault(sig, set()).add(m)
    return [(frozenset(ms), sig) for sig, ms in by_sig.items() if sig != ids]


def solve(problem: Problem, limits: Limits) -> Result:
    """Solve ``problem`` within ``limits``; a pure function of its inputs.

    Large problems (more than :data:`LARGE` stops) are decomposed by area: see
    :mod:`routing.decompose`.

    Raises
    ------
    ProblemError
        When the solver cannot produce even an empty plan.
    """
    if (
        len(problem.stops) > LARGE
        and len(problem.vehicles) > 1
        and not (problem.pinned or problem.initial_routes)
    ):
        from routing.decompose import solve_by_area

        return solve_by_area(problem, limits, _solve_one)
    return _solve_one(problem, limits)


class _NoSolution(ProblemError):
    """OR-Tools returned no assignment at all (not even "serve nobody")."""


#: How far the time limit may be stretched when the search found no route at all.
MAX_STRETCH = 16
#: Reasons found before any search: no longer time limit would serve these stops.
_STATIC = frozenset(
    {
        "no_window",
        "no_class_allowed",
        "capacity",
        "no_legal_path",
        "window_unreachable",
        "no_station",
        "no_vehicle",
    }
)


def _solve_one(problem: Problem, limits: Limits) -> Result:
    """The OR-Tools model on one (sub)problem.

    OR-Tools answers "serve nobody" when its time runs out before the first solution
    (a big problem, a short limit, a busy machine). An empty plan with vans and servable
    stops is never the answer we want: the limit is doubled, up to ``MAX_STRETCH`` times,
    and the stretch is reported in the stats.
    """
    tl = limits.time_limit_s
    while True:
        try:
            res: Result | None = _solve_core(problem, dataclasses.replace(limits, time_limit_s=tl))
        except _NoSolution:
            if tl * 2 > limits.time_limit_s * MAX_STRETCH:
                raise
            res = None
        empty = res is not None and not res.routes and problem.vehicles and (
            len(res.unassigned) > sum(1 for u in res.unassigned if u.reason in _STATIC)
        )  # fmt: skip
        if res is not None and (not empty or tl * 2 > limits.time_limit_s * MAX_STRETCH):
            break
        tl *= 2
    if tl != limits.time_limit_s:
        res = Result(res.routes, res.unassigned, {**res.stats, "time_limit_stretched_to": tl})
    return res


def _solve_core(problem: Problem, limits: Limits) -> Result:
    """One OR-Tools search within ``limits``."""
    t0 = time.monotonic()
    prob = problem
    vehicles = prob.vehicles
    if not vehicles:
        return Result(
            (),
            tuple(Unassigned(s.id, "no_vehicle", "no vehicle in the fleet") for s in prob.stops),
            {"status": "no_vehicles"},
        )
    unloads = _unload_copies(prob)
    facs = sorted({u.facility for u in unloads}, key=lambda f: f.id)
    accepted = {m for f in facs for m in f.accepts}
    tail_lift = [vi for vi, v in enumerate(vehicles) if v.tail_lift]
    unassigned: list[Unassigned] = []
    stops: list[Stop] = []
    for s in prob.stops:
        refused = sorted(set(s.materials) - accepted)
        reason = (
            Unassigned(s.id, "no_station", f"no transfer station open today accepts {refused}")
            if refused
            else _static_reason(prob, s, tail_lift)
        )
        if reason is None:
            stops.append(s)
        else:
            unassigned.append(reason)
    groups = _material_groups(prob, facs)
    # Stations that take everything and are open all working day close every route
    # implicitly: the end of a route costs the way through the best of them. An explicit
    # final unload would make opening a new route a two-node insertion, which the
    # insertion heuristics cannot do.
    day_mats = {m for s in stops for m in s.materials}
    lo = min(v.shift.start for v in vehicles)
    hi = max(v.shift.end for v in vehicles)
    final_facs = [
        f
        for f in facs
        if day_mats <= f.accepts and any(w.start <= lo and hi <= w.end for w in f.open)
    ]

    depots = sorted({v.depot_place for v in vehicles})
    start_node = {d: i for i, d in enumerate(depots)}
    end_node = {d: len(depots) + i for i, d in enumerate(depots)}
    first_stop = 2 * len(depots)
    first_unload = first_stop + len(stops)
    n_nodes = first_unload + len(unloads)
    node_place = [*depots, *depots, *(s.place for s in stops), *(u.facility.place for u in unloads)]
    service = (
        [0] * first_stop + [s.service_s for s in stops] + [u.facility.unload_s for u in unloads]
    )

    manager = pywrapcp.RoutingIndexManager(
        n_nodes,
        len(vehicles),
        [start_node[v.depot_place] for v in vehicles],
        [end_node[v.depot_place] for v in vehicles],
    )
    routing = pywrapcp.RoutingModel(manager)
    idx_place = np.array(node_place)
    svc = np.array(service, dtype=np.int64)

    transit_ids: dict[tuple[str, int], int] = {}
    final_of: dict[tuple[str, int], np.ndarray] = {}
    for vi, v in enumerate(vehicles):
        key = (v.profile, v.depot_place)
        if key not in transit_ids:
            sec = prob.seconds[v.profile]
            m = sec[np.ix_(idx_place, idx_place)].astype(np.int64)
            if final_facs:
                cost = np.stack(
                    [sec[:, f.place] + f.unload_s + sec[f.place, v.depot_place] for f in final_facs]
                )
                best = np.argmin(cost, axis=0)
                final_of[key] = best
                via = cost[best, np.arange(len(prob.places))]
                for d in depots:
                    m[:, end_node[d]] = via[idx_place] if d == v.depot_place else 10**7
                    m[start_node[d], end_node[d]] = 0  # an unused van goes nowhere
            m = m + svc[:, None]
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

    def set_windows(index: int, wins: list[tuple[int, int]]) -> None:
        wins = sorted(w for w in wins if w[1] >= w[0])
        cum = tdim.CumulVar(index)
        cum.SetRange(wins[0][0], wins[-1][1])
        for (_, a_end), (b_start, _) in itertools.pairwise(wins):
            if b_start - a_end > 1:
                cum.RemoveInterval(a_end + 1, b_start - 1)

    # Capacity: pickups add load; an unload takes off up to a full van (slack), never below zero.
    max_kg = max(v.capacity_kg for v in vehicles)
    max_l = max(v.capacity_l for v in vehicles)
    kg = [0] * first_stop + [s.demand_kg for s in stops] + [-max_kg] * len(unloads)
    lt = [0] * first_stop + [s.demand_l for s in stops] + [-max_l] * len(unloads)
    dims = []
    for name, vec, cap, caps in (
        ("kg", kg, max_kg, [v.capacity_kg for v in vehicles]),
        ("litres", lt, max_l, [v.capacity_l for v in vehicles]),
    ):
        cb = routing.RegisterUnaryTransitVector(vec)
        routing.AddDimensionWithVehicleCapacity(cb, cap, caps, True, name)
        dims.append(routing.GetDimensionOrDie(name))
    # Material groups some stations refuse: tracked so a van never arrives there carrying them.
    gdims = []
    for gi, (mats, accepting) in enumerate(groups):
        vec = [0] * first_stop
        for s in stops:
            share = (
                s.demand_kg
                if set(s.materials) <= mats
                else (s.demand_kg if set(s.materials) & mats else 0)
            )
            vec.append(share)
        vec += [-max_kg if u.facility.id in accepting else 0 for u in unloads]
        cb = routing.RegisterUnaryTransitVector(vec)
        routing.AddDimensionWithVehicleCapacity(
            cb, max_kg, [max_kg] * len(vehicles), True, f"group{gi}"
        )
        gdims.append((routing.GetDimensionOrDie(f"group{gi}"), accepting))
    for node in range(n_nodes):
        if node < first_stop:
            continue
        index = manager.NodeToIndex(node)
        if node < first_unload:
            for d in dims:
                d.SlackVar(index).SetValue(0)
            for d, _acc in gdims:
                d.SlackVar(index).SetValue(0)
    if not final_facs:
        for vi in range(len(vehicles)):
            for d in dims:
                d.CumulVar(routing.End(vi)).SetMax(
                    0
                )  # every route ends empty: last action an unload
            for d, _acc in gdims:
                d.CumulVar(routing.End(vi)).SetMax(0)

    for k, s in enumerate(stops):
        index = manager.NodeToIndex(first_stop + k)
        set_windows(index, [(w.start, w.end - s.service_s) for w in s.windows])
        if s.needs_tail_lift:
            routing.VehicleVar(index).SetValues([-1, *tail_lift])
        routing.AddDisjunction([index], _BIG_PENALTY * (1 + s.priority))
    for k, u in enumerate(unloads):
        index = manager.NodeToIndex(first_unload + k)
        set_windows(
            index,
            [
                (w.start, w.end - u.facility.unload_s)
                for w in u.facility.open
                if w.end - w.start >= u.facility.unload_s
            ]
            or [(0, 0)],
        )
        for d, accepting in gdims:
            if u.facility.id not in accepting:
                d.CumulVar(index).SetMax(0)
                d.SlackVar(index).SetValue(0)
        routing.AddDisjunction([index], 0)

    # Driver breaks: an interval inside the break window that no visit may overlap.
    node_visit = [service[manager.IndexToNode(i)] for i in range(routing.Size())]
    for vi, v in enumerate(vehicles):
        if v.break_window is None or v.break_s <= 0:
            continue
        w = v.break_window
        brk = routing.solver().FixedDurationIntervalVar(
            w.start, w.end - v.break_s, v.break_s, False, f"break-{vi}"
        )
        tdim.SetBreakIntervalsOfVehicle([brk], vi, node_visit)

    params = pywrapcp.DefaultRoutingSearchParameters()
    strategy = limits.first_solution or (
        "PARALLEL_CHEAPEST_INSERTION" if len(stops) <= LARGE else "PATH_CHEAPEST_ARC"
    )
    try:
        params.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy, strategy)
    except AttributeError:
        raise ProblemError(f"unknown first-solution strategy {strategy!r}") from None
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(int(limits.time_limit_s * 1000))
    # Pinned stops: on this vehicle, in this order.
    node_of = {s.id: first_stop + k for k, s in enumerate(stops)}
    vindex = {v.id: vi for vi, v in enumerate(vehicles)}
    pinned_anywhere = {sid for pin in prob.pinned.values() for sid in pin}
    for vid, pin in prob.pinned.items():
        vi = vindex[vid]
        prev = routing.Start(vi)
        for sid in pin:
            if sid not in node_of:
                raise ProblemError(
                    f"pinned stop {sid} of {vid} cannot be served ({_why(unassigned, sid)})"
                )
            index = manager.NodeToIndex(node_of[sid])
            try:
                routing.VehicleVar(index).SetValue(vi)
                if prev != routing.Start(vi):
                    # Order, not adjacency: unload trips and the break may fall between pinned stops.
                    routing.solver().Add(
                        tdim.CumulVar(prev) + service[manager.IndexToNode(prev)]
                        <= tdim.CumulVar(index)
                    )
            except Exception as exc:  # OR-Tools signals an impossible assignment by raising
                need = (
                    " (it needs a tail lift)"
                    if stops[node_of[sid] - first_stop].needs_tail_lift
                    else ""
                )
                raise ProblemError(f"stop {sid} cannot go on {vid}{need}") from exc
            prev = index
        # What is not pinned comes after the last pinned stop on this van (a re-planned
        # day: done stops first), though unloads and the break may fall between them.
        if pin and prev != routing.Start(vi):
            slack = max(v.shift.end for v in vehicles) + 1  # lifts the bound off this van
            for k in range(len(stops)):
                node = first_stop + k
                if stops[k].id in pinned_anywhere:
                    continue
                other = manager.NodeToIndex(node)
                elsewhere = routing.solver().IsDifferentCstVar(routing.VehicleVar(other), vi)
                routing.solver().Add(
                    tdim.CumulVar(other) + elsewhere * slack >= tdim.CumulVar(prev)
                )
    routing.CloseModelWithParameters(params)
    initial = None
    if prob.initial_routes:
        # Entries naming a facility are unload trips: each takes a free copy of it.
        free: dict[str, list[int]] = {}
        for k, u in enumerate(unloads):
            free.setdefault(u.facility.id, []).append(first_unload + k)
        seqs = []
        for v in vehicles:
            wseq = []
            for sid in prob.initial_routes.get(v.id, ()):
                if sid in node_of:
                    wseq.append(manager.NodeToIndex(node_of[sid]))
                elif free.get(sid):
                    wseq.append(manager.NodeToIndex(free[sid].pop(0)))
            seqs.append(wseq)
        initial = routing.ReadAssignmentFromRoutes(seqs, True)
    if initial is not None:
        solution = routing.SolveFromAssignmentWithParameters(initial, params)
    else:
        solution = routing.SolveWithParameters(params)
    if solution is None:
        raise _NoSolution("the solver found no solution (not even an empty plan)")

    routes: list[Route] = []
    for vi, v in enumerate(vehicles):
        seq: list[tuple[int, int]] = []  # (node, planned start)
        idx = solution.Value(routing.NextVar(routing.Start(vi)))
        while not routing.IsEnd(idx):
            seq.append((manager.IndexToNode(idx), solution.Value(tdim.CumulVar(idx))))
            idx = solution.Value(routing.NextVar(idx))
        if not any(first_stop <= node < first_unload for node, _ in seq):
            continue
        items: list[tuple[Stop | Facility, int]] = [
            (
                stops[node - first_stop]
                if node < first_unload
                else unloads[node - first_unload].facility,
                st,
            )
            for node, st in seq
        ]
        fin = final_of.get((v.profile, v.depot_place))
        if fin is not None:
            last_place = items[-1][0].place
            items.append((final_facs[int(fin[last_place])], 0))
        routes.append(_with_break(prob, v, _timeline(prob, v, items)))

    served = {vis.ref for r in routes for vis in r.visits}
    known = {u.stop_id for u in unassigned}
    for s in stops:
        if s.id not in served and s.id not in known:
            unassigned.append(_dynamic_reason(prob, s, routes))
    stats: dict[str, float | int | str] = {
        "status": "solved",
        "engine": "ortools-gls",
        "objective": int(solution.ObjectiveValue()),
        "wall_s": round(time.monotonic() - t0, 3),
        "vehicles_used": len(routes),
        "stops_served": len(served & {s.id for s in prob.stops}),
        "stops_unassigned": len(unassigned),
        "unloads": sum(1 for r in routes for x in r.visits if x.kind == "unload"),
        "distance_m": sum(r.distance_m for r in routes),
        "duration_s": sum(r.duration_s for r in routes),
    }
    return Result(tuple(routes), tuple(unassigned), stats)


def _why(unassigned: list[Unassigned], sid: str) -> str:
    return next((u.detail for u in unassigned if u.stop_id == sid), "unknown stop")


def _timeline(prob: Problem, v: Vehicle, items: list[tuple[Stop | Facility, int]]) -> Route:
    """Times and loads along a route: leave each visit as soon as it is done, wait on arrival."""
    sec = prob.seconds[v.profile]
    met = prob.metres[v.profile]
    first_place = items[0][0].place
    depart = max(v.shift.start, items[0][1] - int(sec[v.depot_place, first_place]))
    visits: list[Visit] = [
        Visit("depot", "depot", v.depot_place, v.shift.start, depart, depart, 0, 0)
    ]
    kg = lt = 0
    prev, dist = v.depot_place, 0
    for item, st in items:
        arrival = depart + int(sec[prev, item.place])
        dist += int(met[prev, item.place])
        if isinstance(item, Facility):
            start = max(arrival, st)
            depart = start + item.unload_s
            kg = lt = 0
            visits.append(Visit("unload", item.id, item.place, arrival, start, depart, 0, 0))
        else:
            kg += item.demand_kg
            lt += item.demand_l
            depart = st + item.service_s
            visits.append(Visit(item.kind, item.id, item.place, arrival, st, depart, kg, lt))
        prev = item.place
    home = depart + int(sec[prev, v.depot_place])
    dist += int(met[prev, v.depot_place])
    visits.append(Visit("depot", "depot", v.depot_place, home, home, home, kg, lt))
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
    if all(
        prob.seconds[v.profile][v.depot_place, s.place] >= UNREACHABLE
        or prob.seconds[v.profile][s.place, v.depot_place] >= UNREACHABLE
        for v in fleet
    ):
        return Unassigned(
            s.id,
            "no_legal_path",
            "no road the eligible vans may use leads there and back (road rights: a permit-only, "
            "closed or banned road is the only way)",
        )
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
