"""Solomon and VRPLIB benchmark instances (VRPTW / CVRP): read, solve, evaluate.

Distances and times are real-valued Euclidean, as the best-known values are. The
solvers work in integers scaled by :data:`SCALE`; travel *durations* are rounded up so
that every schedule feasible in integers is feasible in reals, and every answer is
re-evaluated in real values (distance, load, windows) before it is reported.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from routing.errors import ProblemError

SCALE = 1000


@dataclass(frozen=True)
class VrpInstance:
    """A single-depot VRPTW (or CVRP: wide windows, no service) instance; index 0 is the depot."""

    name: str
    coords: np.ndarray  # (n, 2)
    demand: np.ndarray  # (n,)
    ready: np.ndarray  # (n,)
    due: np.ndarray  # (n,)
    service: np.ndarray  # (n,)
    capacity: int
    vehicles: int
    numbers: list[int]  # customer number as written in the file, per index
    dist: np.ndarray = field(repr=False)  # (n, n) real-valued Euclidean


@dataclass
class VrpSolution:
    """Routes as customer numbers of the file, with real-valued figures."""

    instance: str
    engine: str
    routes: list[list[int]]
    distance: float
    vehicles: int
    feasible: bool
    problems: list[str]
    seconds: float


def read_instance(path: str | Path) -> VrpInstance:
    """Read a Solomon text file or a VRPLIB file (CVRP or CVRPTW).

    Raises
    ------
    ProblemError
        When the file is missing or in neither format.
    """
    import vrplib

    p = Path(path)
    if not p.is_file():
        raise ProblemError(f"{p}: no such file")
    text = p.read_text(errors="replace")
    solomon = "CUST NO." in text.upper() or (
        "VEHICLE" in text.upper() and "NODE_COORD_SECTION" not in text
    )
    try:
        raw = vrplib.read_instance(str(p), instance_format="solomon" if solomon else "vrplib")
    except Exception as exc:
        raise ProblemError(f"{p}: not a Solomon or VRPLIB instance ({exc})") from exc
    try:
        coords = np.asarray(raw["node_coord"], dtype=float)
        n = len(coords)
        demand = np.asarray(raw.get("demand", np.zeros(n)), dtype=float)
        if "time_window" in raw:
            tw = np.asarray(raw["time_window"], dtype=float)
            ready, due = tw[:, 0], tw[:, 1]
        else:
            ready, due = np.zeros(n), np.full(n, 1e9)
        svc = raw.get("service_time", 0)
        service = (
            np.full(n, float(svc)) if isinstance(svc, int | float) else np.asarray(svc, dtype=float)
        )
        depot = int(np.asarray(raw.get("depot", [0])).ravel()[0]) if not solomon else 0
        if not solomon:
            service[depot] = 0.0
        capacity = int(raw["capacity"])
        vehicles = int(raw.get("vehicles", n))
    except (KeyError, ValueError, TypeError) as exc:
        raise ProblemError(f"{p}: missing or bad section ({exc})") from exc
    if depot != 0:
        raise ProblemError(f"{p}: only instances whose first node is the depot are supported")
    numbers = list(range(n)) if solomon else list(range(1, n + 1))
    diff = coords[:, None, :] - coords[None, :, :]
    dist = np.sqrt((diff**2).sum(axis=2))
    return VrpInstance(
        p.stem, coords, demand, ready, due, service, capacity, vehicles, numbers, dist
    )


def evaluate(inst: VrpInstance, routes: list[list[int]]) -> tuple[float, list[str]]:
    """Real-valued distance of ``routes`` (indices) and every feasibility problem found."""
    problems: list[str] = []
    seen: list[int] = []
    total = 0.0
    if len(routes) > inst.vehicles:
        problems.append(f"{len(routes)} routes for {inst.vehicles} vehicles")
    for k, r in enumerate(routes):
        t, prev, load = inst.ready[0], 0, 0.0
        for c in r:
            total += inst.dist[prev, c]
            t = max(t + inst.service[prev] + inst.dist[prev, c], inst.ready[c])
            if t > inst.due[c] + 1e-9:
                problems.append(
                    f"route {k + 1}: customer {inst.numbers[c]} served at {t:.2f} after {inst.due[c]:g}"
                )
            load += inst.demand[c]
            prev = c
            seen.append(c)
        total += inst.dist[prev, 0]
        back = t + inst.service[prev] + inst.dist[prev, 0]
        if back > inst.due[0] + 1e-9:
            problems.append(f"route {k + 1}: back at the depot at {back:.2f} after {inst.due[0]:g}")
        if load > inst.capacity + 1e-9:
            problems.append(f"route {k + 1}: load {load:g} over capacity {inst.capacity}")
    missing = set(range(1, len(inst.coords))) - set(seen)
    if missing:
        problems.append(f"{len(missing)} customers not served")
    if len(seen) != len(set(seen)):
        problems.append("a customer is served twice")
    return total, problems


def _pyvrp(inst: VrpInstance, seconds: float, seed: int) -> list[list[int]]:
    from pyvrp import Model
    from pyvrp.stop import MaxRuntime

    m = Model()
    locs = [m.add_location(float(x), float(y)) for x, y in inst.coords]
    early, late = int(inst.ready[0] * SCALE), int(inst.due[0] * SCALE)
    m.add_depot(locs[0], tw_early=early, tw_late=late)
    m.add_vehicle_type(
        num_available=inst.vehicles, capacity=int(inst.capacity), tw_early=early, tw_late=late
    )
    for i in range(1, len(locs)):
        m.add_client(
            locs[i],
            delivery=int(inst.demand[i]),
            service_duration=math.ceil(inst.service[i] * SCALE),
            tw_early=math.ceil(inst.ready[i] * SCALE),
            tw_late=math.floor(inst.due[i] * SCALE),
        )
    dist = np.rint(inst.dist * SCALE).astype(np.int64)
    dur = np.ceil(inst.dist * SCALE).astype(np.int64)
    for i, a in enumerate(locs):
        for j, b in enumerate(locs):
            if i != j:
                m.add_edge(a, b, distance=int(dist[i, j]), duration=int(dur[i, j]))
    res = m.solve(stop=MaxRuntime(seconds), seed=seed, display=False)
    return [[a.idx + 1 for a in r if a.is_client()] for r in res.best.routes()]


def _ortools(inst: VrpInstance, seconds: float) -> list[list[int]]:
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n = len(inst.coords)
    manager = pywrapcp.RoutingIndexManager(n, inst.vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)
    dist = np.rint(inst.dist * SCALE).astype(np.int64)
    transit = (np.ceil(inst.dist * SCALE) + np.ceil(inst.service * SCALE)[:, None]).astype(np.int64)
    arc = routing.RegisterTransitMatrix(dist.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(arc)
    tcb = routing.RegisterTransitMatrix(transit.tolist())
    horizon = int(inst.due[0] * SCALE)
    routing.AddDimension(tcb, horizon, horizon, False, "time")
    tdim = routing.GetDimensionOrDie("time")
    for i in range(1, n):
        tdim.CumulVar(manager.NodeToIndex(i)).SetRange(
            math.ceil(inst.ready[i] * SCALE), math.floor(inst.due[i] * SCALE)
        )
    dcb = routing.RegisterUnaryTransitVector([int(d) for d in inst.demand])
    routing.AddDimensionWithVehicleCapacity(
        dcb, 0, [int(inst.capacity)] * inst.vehicles, True, "load"
    )
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    )
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(int(seconds * 1000))
    sol = routing.SolveWithParameters(params)
    if sol is None:
        return []
    out = []
    for v in range(inst.vehicles):
        idx = sol.Value(routing.NextVar(routing.Start(v)))
        r = []
        while not routing.IsEnd(idx):
            r.append(manager.IndexToNode(idx))
            idx = sol.Value(routing.NextVar(idx))
        if r:
            out.append(r)
    return out


ENGINES = ("pyvrp", "ortools")


def solve_instance(
    inst: VrpInstance, *, seconds: float, engine: str = "pyvrp", seed: int = 0
) -> VrpSolution:
    """Solve with ``engine`` (``pyvrp``: hybrid genetic search; ``ortools``: guided local search).

    Raises
    ------
    ProblemError
        For an unknown engine or a non-positive time limit.
    """
    if engine not in ENGINES:
        raise ProblemError(f"unknown engine {engine!r}; choose one of {list(ENGINES)}")
    if seconds <= 0:
        raise ProblemError("the time limit must be positive")
    t = time.monotonic()
    routes = _pyvrp(inst, seconds, seed) if engine == "pyvrp" else _ortools(inst, seconds)
    secs = time.monotonic() - t
    distance, problems = evaluate(inst, routes)
    return VrpSolution(
        inst.name,
        engine,
        [[inst.numbers[c] for c in r] for r in routes],
        distance,
        len(routes),
        not problems and bool(routes),
        problems or ([] if routes else ["no solution"]),
        secs,
    )


def solution_dict(sol: VrpSolution) -> dict[str, Any]:
    """JSON-ready form."""
    return {
        "instance": sol.instance,
        "engine": sol.engine,
        "distance": round(sol.distance, 4),
        "vehicles": sol.vehicles,
        "feasible": sol.feasible,
        "problems": sol.problems,
        "seconds": round(sol.seconds, 3),
        "routes": sol.routes,
    }
