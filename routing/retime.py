"""Re-time a route whose stop order is given (a dispatcher's edit): no search, one pass.

Each stop starts as early as its windows allow; when the next stop would overflow the
van, an unload trip to the nearest open station that takes everything on board is put in
first; the route closes with an unload and the drive home; the driver's break is placed
where the timeline has room. Anything impossible is refused with the stop and the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from routing.errors import ProblemError
from routing.problem import Facility, Problem, Stop, Vehicle
from routing.result import Route, Visit
from routing.solver import _with_break


def _earliest(windows: list[tuple[int, int]], arrival: int, duration: int) -> int | None:
    for a, b in sorted(windows):
        start = max(arrival, a)
        if start + duration <= b:
            return start
    return None


def _unload(
    prob: Problem, v: Vehicle, place: int, t: int, onboard: set[str], home_after: bool
) -> tuple[Facility, int, int]:
    """Best station for the load: (facility, arrival, unload start)."""
    sec = prob.seconds[v.profile]
    best: tuple[int, Facility, int, int] | None = None
    for f in prob.facilities:
        if not onboard <= f.accepts:
            continue
        arrival = t + int(sec[place, f.place])
        start = _earliest([(w.start, w.end) for w in f.open], arrival, f.unload_s)
        if start is None:
            continue
        score = start + f.unload_s + (int(sec[f.place, v.depot_place]) if home_after else 0)
        if best is None or score < best[0]:
            best = (score, f, arrival, start)
    if best is None:
        raise ProblemError(
            f"{v.id}: no transfer station open after {t // 3600:02d}:{t % 3600 // 60:02d} "
            f"takes {sorted(onboard)}"
        )
    return best[1], best[2], best[3]


def retime(prob: Problem, v: Vehicle, seq: Sequence[Stop | Facility]) -> Route:
    """The timed route of ``v`` serving ``seq`` in this order.

    A :class:`Facility` in ``seq`` is an unload trip the dispatcher placed there (skipped
    when the van is empty); further trips are added only where the van would overflow.

    Raises
    ------
    ProblemError
        Naming the first stop that cannot be served (window, tail lift, shift end).
    """
    sec = prob.seconds[v.profile]
    met = prob.metres[v.profile]
    visits: list[Visit] = []
    t, place, kg, lt, dist = v.shift.start, v.depot_place, 0, 0, 0
    onboard: set[str] = set()
    for s in seq:
        if isinstance(s, Facility):
            if not (kg or lt):
                continue
            if not onboard <= s.accepts:
                raise ProblemError(f"{s.id}: does not take {sorted(onboard - s.accepts)}")
            arr = t + int(sec[place, s.place])
            st = _earliest([(w.start, w.end) for w in s.open], arr, s.unload_s)
            if st is None:
                raise ProblemError(
                    f"{s.id}: reached at {arr // 3600:02d}:{arr % 3600 // 60:02d}, not open then"
                )
            dist += int(met[place, s.place])
            visits.append(Visit("unload", s.id, s.place, arr, st, st + s.unload_s, 0, 0))
            t, place, kg, lt, onboard = st + s.unload_s, s.place, 0, 0, set()
            continue
        if s.needs_tail_lift and not v.tail_lift:
            raise ProblemError(f"{s.id}: needs a tail lift, which {v.id} has not")
        if s.demand_kg > v.capacity_kg or s.demand_l > v.capacity_l:
            raise ProblemError(f"{s.id}: larger than {v.id} can carry")
        if kg + s.demand_kg > v.capacity_kg or lt + s.demand_l > v.capacity_l:
            f, arr, st = _unload(prob, v, place, t, onboard, home_after=False)
            dist += int(met[place, f.place])
            visits.append(Visit("unload", f.id, f.place, arr, st, st + f.unload_s, 0, 0))
            t, place, kg, lt, onboard = st + f.unload_s, f.place, 0, 0, set()
        arrival = t + int(sec[place, s.place])
        start = _earliest([(w.start, w.end) for w in s.windows], arrival, s.service_s)
        if start is None:
            raise ProblemError(
                f"{s.id}: reached at {arrival // 3600:02d}:{arrival % 3600 // 60:02d}, "
                "too late for its windows"
            )
        dist += int(met[place, s.place])
        kg, lt = kg + s.demand_kg, lt + s.demand_l
        onboard |= set(s.materials)
        visits.append(Visit(s.kind, s.id, s.place, arrival, start, start + s.service_s, kg, lt))
        t, place = start + s.service_s, s.place
    if kg or lt:
        f, arr, st = _unload(prob, v, place, t, onboard, home_after=True)
        dist += int(met[place, f.place])
        visits.append(Visit("unload", f.id, f.place, arr, st, st + f.unload_s, 0, 0))
        t, place = st + f.unload_s, f.place
    home = t + int(sec[place, v.depot_place])
    dist += int(met[place, v.depot_place])
    if home > v.shift.end:
        raise ProblemError(
            f"{v.id}: back at {home // 3600:02d}:{home % 3600 // 60:02d}, after the shift ends"
        )
    # Leave the depot just in time for the first visit.
    first = visits[0] if visits else None
    depart = v.shift.start
    if first is not None:
        depart = max(v.shift.start, first.start - int(sec[v.depot_place, first.place]))
        visits[0] = Visit(
            first.kind,
            first.ref,
            first.place,
            depart + int(sec[v.depot_place, first.place]),
            first.start,
            first.departure,
            first.load_kg,
            first.load_l,
        )
    route = Route(
        v.id,
        (
            Visit("depot", "depot", v.depot_place, v.shift.start, depart, depart, 0, 0),
            *visits,
            Visit("depot", "depot", v.depot_place, home, home, home, 0, 0),
        ),
        dist,
        home - depart,
    )
    return _with_break(prob, v, route)
