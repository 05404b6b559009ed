"""Dispatcher edits: move a stop to another route, reorder, unassign, add a vehicle.

An edit is the whole new sequence of stops per vehicle. It is re-timed by the routing
model with every stop pinned in the order given (unload trips and the break are placed
where they fit), replayed by the legality checker, and saved as a new draft version that
supersedes the edited one. An edit that cannot be scheduled, or that would be illegal,
is refused with the reasons and changes nothing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from dispatch import models as m
from dispatch.approval import get_plan
from dispatch.errors import Conflict, InvalidInput
from dispatch.planning import _store, build_day_under_way, replay
from routing.errors import ProblemError
from routing.network import RoadNetwork
from routing.problem import Facility, Problem, Stop, Window
from routing.result import Result, Unassigned
from routing.retime import retime

EDITABLE = ("draft", "approved")


def visits_by_ref(problem: Problem) -> dict[str, Stop | Facility]:
    """What a route in :func:`current_sequences` may name, by reference: a booking or a
    collection point (a stop of ``problem``), or a transfer station (an unload trip)."""
    out: dict[str, Stop | Facility] = {s.id.split(":", 1)[1]: s for s in problem.stops}
    out.update({f.id: f for f in problem.facilities})
    return out


def under_way_windows(stop: Stop, now_s: int, latest_s: int | None) -> Stop:
    """``stop`` with its windows cut for a day under way: a done stop (``latest_s`` given)
    started no later than then; any other stop starts at ``now_s`` or later."""
    if latest_s is not None:
        cut = [(w.start, min(w.end, latest_s + stop.service_s)) for w in stop.windows]
    else:
        cut = [(max(w.start, now_s), w.end) for w in stop.windows]
    return dataclasses.replace(stop, windows=tuple(Window(a, b) for a, b in cut if b > a))


def _check_done_kept(
    under_way: dict[str, Any],
    routes: dict[str, list[str]],
    facilities: set[str],
    plannable: set[str],
) -> dict[str, str]:
    """Problems where an edit of a day under way moves, drops or reorders a done stop.

    A done booking that has left the day since (cancelled, or skipped on the live plan and
    rolled over) is no longer plannable and no longer binds the edit.
    """
    problems = {}
    for plate, items in under_way.get("done", {}).items():
        refs = [ref for ref, _ in items if ref in plannable]
        if not refs:
            continue
        got = [r for r in routes.get(plate, []) if r not in facilities][: len(refs)]
        if got != refs:
            problems[f"routes.{plate}"] = (
                f"{', '.join(refs)} {'is' if len(refs) == 1 else 'are'} done (reported by the "
                "driver or past); done stops stay first on their van, in the order they were done"
            )
    return problems


def stop_ref(st: m.Stop) -> str | None:
    """The reference a stop is edited by: its booking's or its collection point's."""
    if st.booking is not None:
        return st.booking.reference
    if st.collection_point is not None:
        return st.collection_point.ref
    return None


def current_sequences(plan: m.Plan, *, unloads: bool = True) -> dict[str, list[str]]:
    """The plan's routes as plate -> references in order: bookings, collection points and
    (with ``unloads``) the transfer stations of the unload trips."""
    out: dict[str, list[str]] = {}
    for r in plan.routes:
        seq = []
        for s in r.stops:
            if (ref := stop_ref(s)) is not None:
                seq.append(ref)
            elif unloads and s.kind == "unload" and s.transfer_station is not None:
                seq.append(s.transfer_station.ref)
        out[r.vehicle.plate] = seq
    return out


def edit_plan(
    session: Session,
    network: RoadNetwork,
    plan_id: int,
    routes: dict[str, list[str]],
    *,
    by: str,
    rules_dir: Path | None,
    pin_routes: list[str] | None = None,
) -> m.Plan:
    """Apply an edit (the full stop order per vehicle); return the new draft version.

    Stops the edit leaves out are unassigned ("removed by the dispatcher"); a vehicle not
    in the plan may be named to add it. ``pin_routes`` names vans whose routes later
    re-planning keeps exactly as they are (default: the pins of the edited plan).

    Raises
    ------
    Conflict
        The plan is published (make a new version from it first) or no longer live.
    InvalidInput
        Unknown vehicle or stop, or a stop on two routes.
    IllegalPlanError
        The edited plan breaks a rule; the violations are listed.
    """
    plan = get_plan(session, plan_id)
    if plan.status not in EDITABLE:
        raise Conflict(
            f"plan {plan_id} is {plan.status}; only a draft or approved plan can be edited "
            "(publishing makes a new route version for drivers)"
        )
    # A version of a day already under way also carries dispatched and collected stops.
    rights, built = build_day_under_way(session, network, plan, rules_dir)
    by_ref = {s.id.split(":", 1)[1]: s.id for s in built.problem.stops}
    plates = {v.plate for v in built.vehicles}
    facility_of = {f.id: f for f in built.problem.facilities}
    problems: dict[str, str] = {}
    seen: set[str] = set()
    pinned: dict[str, tuple[str, ...]] = {}
    for plate, refs in routes.items():
        if plate not in plates:
            problems[f"routes.{plate}"] = "no such vehicle in this district"
            continue
        ids = []
        for ref in refs:
            if ref in facility_of:
                ids.append(ref)  # an unload trip there
            elif ref not in by_ref:
                problems[f"routes.{plate}"] = f"unknown or unplannable stop {ref!r}"
            elif ref in seen:
                problems[f"routes.{plate}"] = f"stop {ref} is on two routes"
            else:
                seen.add(ref)
                ids.append(by_ref[ref])
        if any(i not in facility_of for i in ids):
            pinned[plate] = tuple(ids)
    under_way: dict[str, Any] = plan.solver_stats.get("under_way") or {}
    problems.update(_check_done_kept(under_way, routes, set(facility_of), set(by_ref)))
    pins = list(plan.solver_stats.get("pinned_routes", [])) if pin_routes is None else pin_routes
    for plate in pins:
        if plate not in routes:
            problems[f"pinned.{plate}"] = "only a van with a route in the edit can be pinned"
    if problems:
        raise InvalidInput(problems)
    kept = {sid for seq in pinned.values() for sid in seq if sid not in facility_of}
    prob = built.problem
    stop_by_id = {s.id: s for s in prob.stops}
    if under_way:  # a re-planned day: what is done happened by then; the rest starts after now
        latest = {
            by_ref[ref]: at
            for items in under_way.get("done", {}).values()
            for ref, at in items
            if ref in by_ref
        }
        stop_by_id = {
            i: under_way_windows(s, int(under_way["now_s"]), latest.get(i))
            for i, s in stop_by_id.items()
        }
    veh_by_id = {v.id: v for v in prob.vehicles}
    timed = []
    for plate, pin in pinned.items():
        try:
            seq = [facility_of[i] if i in facility_of else stop_by_id[i] for i in pin]
            timed.append(retime(prob, veh_by_id[plate], seq))
        except ProblemError as exc:
            raise InvalidInput({f"routes.{plate}": str(exc)}) from exc
    dropped = [s for s in prob.stops if s.id not in kept]
    result = Result(
        tuple(timed),
        tuple(
            Unassigned(s.id, "removed", "removed from the routes by the dispatcher")
            for s in dropped
        ),
        {
            "status": "edited",
            "engine": "dispatcher edit, re-timed",
            "vehicles_used": len(timed),
            "stops_served": len(kept),
            "stops_unassigned": len(dropped),
            "distance_m": sum(r.distance_m for r in timed),
            "duration_s": sum(r.duration_s for r in timed),
        },
    )
    new = _store(session, built, result, plan.district, plan.date)
    new.version = plan.version + 1
    new.solver_stats = {**new.solver_stats, "pinned_routes": sorted(set(pins))}
    if under_way:
        new.solver_stats["under_way"] = under_way
    replay(session, network, new, rights)
    plan.status = "superseded"
    session.add(
        m.AuditLog(
            actor=by,
            action="plan.edit",
            entity="plan",
            entity_id=str(new.id),
            detail={"from_plan": plan_id, "routes": routes, "pinned": sorted(set(pins))},
        )
    )
    session.flush()
    return new
