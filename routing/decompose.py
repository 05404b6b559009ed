"""Decomposition by area for large districts.

OR-Tools' insertion heuristics and local search slow down sharply past a few hundred
stops (measured here: 1,200 stops and 72 vans got 410 stops served in 60 s). A district
of thousands of stops is split into areas of about :data:`AREA_STOPS` stops by k-means on
the stop locations; vans are shared out in proportion to each area's work, keeping the
class mix (tail-lift vans where bulky items are); areas are solved in parallel on the
machine's cores, and a last pass offers what is left to the vans still free.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from routing.problem import Facility, Limits, Problem, Stop, Vehicle
from routing.result import Result, Unassigned

AREA_STOPS = 220

Solver = Callable[[Problem, Limits], Result]


def _kmeans(xy: np.ndarray, k: int, seed: int, iters: int = 25) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = xy[rng.choice(len(xy), size=k, replace=False)]
    labels = np.zeros(len(xy), dtype=int)
    for _ in range(iters):
        d = ((xy[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        labels = d.argmin(axis=1)
        for c in range(k):
            pts = xy[labels == c]
            if len(pts):
                centres[c] = pts.mean(axis=0)
    return labels


def _share(n_items: int, weights: np.ndarray) -> np.ndarray:
    """Split ``n_items`` in proportion to ``weights`` (largest remainders)."""
    if n_items == 0 or weights.sum() <= 0:
        return np.zeros(len(weights), dtype=int)
    raw = weights / weights.sum() * n_items
    out = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - out))[: n_items - out.sum()]:
        out[i] += 1
    return out


def split(problem: Problem, *, seed: int = 0) -> list[Problem]:
    """Sub-problems by area, each with its share of the fleet and of station intake."""
    stops = problem.stops
    k = max(1, min(len(problem.vehicles), math.ceil(len(stops) / AREA_STOPS)))
    xy = np.array([[problem.places[s.place].lon, problem.places[s.place].lat] for s in stops])
    labels = _kmeans(xy, k, seed)
    work = np.array(
        [
            sum(s.service_s + 600 for s, lab in zip(stops, labels, strict=True) if lab == c)
            for c in range(k)
        ],
        dtype=float,
    )
    bulky = np.array(
        [
            sum(1 for s, lab in zip(stops, labels, strict=True) if lab == c and s.needs_tail_lift)
            for c in range(k)
        ],
        dtype=float,
    )
    fleet: list[list[Vehicle]] = [[] for _ in range(k)]
    # Tail-lift vans follow the bulky items, the others the remaining work.
    for tail in (True, False):
        vans = [v for v in problem.vehicles if v.tail_lift == tail]
        counts = _share(len(vans), bulky if tail and bulky.sum() > 0 else work)
        it = iter(vans)
        for c in range(k):
            fleet[c] += [next(it) for _ in range(counts[c])]
    facilities = tuple(
        dataclasses.replace(
            f, daily_intake_kg=None if f.daily_intake_kg is None else f.daily_intake_kg // k
        )
        for f in problem.facilities
    )
    out = []
    for c in range(k):
        sub_stops = tuple(s for s, lab in zip(stops, labels, strict=True) if lab == c)
        out.append(
            dataclasses.replace(
                problem, vehicles=tuple(fleet[c]), stops=sub_stops, facilities=facilities
            )
        )
    return out


_SOLVER: list[Solver] = []


def _run(args: tuple[Problem, Limits]) -> Result:
    return _SOLVER[0](*args)


def solve_by_area(problem: Problem, limits: Limits, solver: Solver) -> Result:
    """Solve ``problem`` area by area with ``solver``; then give what is left to free vans."""
    t0 = time.monotonic()
    subs = [p for p in split(problem, seed=limits.seed) if p.stops or p.vehicles]
    workers = max(1, min(len(subs), os.cpu_count() or 1))
    rounds = math.ceil(len(subs) / workers)
    budget = max(1.0, limits.time_limit_s * 0.8 / rounds)
    sub_limits = dataclasses.replace(limits, time_limit_s=budget)
    _SOLVER[:] = [solver]
    if workers > 1:
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as ex:
            results = list(ex.map(_run, [(p, sub_limits) for p in subs]))
    else:
        results = [solver(p, sub_limits) for p in subs]
    routes = [r for res in results for r in res.routes]
    left_ids = {u.stop_id for res in results for u in res.unassigned}
    unassigned: dict[str, Unassigned] = {u.stop_id: u for res in results for u in res.unassigned}
    used = {r.vehicle_id for r in routes}
    free = tuple(v for v in problem.vehicles if v.id not in used)
    left: tuple[Stop, ...] = tuple(s for s in problem.stops if s.id in left_ids)
    if left and free:
        rest = dataclasses.replace(
            problem, vehicles=free, stops=left, facilities=_remaining(problem, results)
        )
        extra = solver(
            rest, dataclasses.replace(limits, time_limit_s=max(1.0, limits.time_limit_s * 0.2))
        )
        routes += list(extra.routes)
        for r in extra.routes:
            for v in r.visits:
                unassigned.pop(v.ref, None)
        for u in extra.unassigned:
            if u.stop_id in unassigned:
                unassigned[u.stop_id] = u
    stats: dict[str, Any] = {
        "status": "solved",
        "engine": f"ortools-gls by area ({len(subs)} areas)",
        "wall_s": round(time.monotonic() - t0, 3),
        "vehicles_used": len(routes),
        "stops_served": sum(1 for r in routes for v in r.visits if v.kind in ("pickup", "station")),
        "stops_unassigned": len(unassigned),
        "unloads": sum(1 for r in routes for v in r.visits if v.kind == "unload"),
        "distance_m": sum(r.distance_m for r in routes),
        "duration_s": sum(r.duration_s for r in routes),
    }
    return Result(tuple(routes), tuple(unassigned.values()), stats)


def _remaining(problem: Problem, results: list[Result]) -> tuple[Facility, ...]:
    """Station intake left after the areas' unloads (conservatively: a full van per unload)."""
    cap = max((v.capacity_kg for v in problem.vehicles), default=0)
    used: dict[str, int] = {}
    for res in results:
        for r in res.routes:
            for v in r.visits:
                if v.kind == "unload":
                    used[v.ref] = used.get(v.ref, 0) + cap
    return tuple(
        dataclasses.replace(
            f,
            daily_intake_kg=None
            if f.daily_intake_kg is None
            else max(0, f.daily_intake_kg - used.get(f.id, 0)),
        )
        for f in problem.facilities
    )
