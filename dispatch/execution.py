"""Driver events: idempotent by the client's event id, checked against the driver's route.

A collected pickup closes its booking; a skipped one is missed and rolls to the next day
with a higher priority. E-waste and appliances keep a chain of custody.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch import models as m
from dispatch.booking import set_status
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.materials import MATERIALS, TRACKED_MATERIALS
from dispatch.settings import TIMEZONE

KINDS = ("arrived", "collected", "skipped", "unloaded", "break")


def _kg_map(v: Any, field: str, p: dict[str, str]) -> dict[str, float]:
    if not isinstance(v, dict) or not v:
        p[field] = "must map materials to kg"
        return {}
    out = {}
    for mat, kg in v.items():
        if mat not in MATERIALS:
            p[f"{field}.{mat}"] = f"unknown material; known: {list(MATERIALS)}"
        elif isinstance(kg, bool) or not isinstance(kg, int | float) or kg < 0 or kg > 5000:
            p[f"{field}.{mat}"] = f"must be a number of kg in [0, 5000], got {kg!r}"
        else:
            out[mat] = float(kg)
    return out


def record_event(
    session: Session, driver: m.Driver, data: dict[str, Any]
) -> tuple[m.StopEvent, bool]:
    """Store one driver event; ``(event, created)``. Re-sending the same event id is harmless.

    Raises
    ------
    InvalidInput
        Bad fields (named).
    NotFound
        The stop is not on this driver's published route.
    """
    p: dict[str, str] = {}
    eid = data.get("event_id") if isinstance(data, dict) else None
    if not isinstance(eid, str) or not 8 <= len(eid) <= 64:
        raise InvalidInput(
            {"event_id": "must be a string of 8 to 64 characters (the tablet's id for the event)"}
        )
    old = session.scalar(select(m.StopEvent).where(m.StopEvent.client_event_id == eid))
    if old is not None:
        if old.driver_id != driver.id:
            raise Conflict(f"event {eid} was sent by another driver")
        return old, False
    kind = data.get("kind")
    if kind not in KINDS:
        p["kind"] = f"must be one of {list(KINDS)}, got {kind!r}"
    try:
        at = dt.datetime.fromisoformat(str(data.get("recorded_at")))
        if at.tzinfo is None:
            p["recorded_at"] = "must carry a UTC offset, e.g. 2026-12-01T09:30:00+08:00"
        elif not dt.date(2000, 1, 1) <= at.astimezone(dt.UTC).date() <= dt.date(2099, 12, 31):
            p["recorded_at"] = f"{at.isoformat()} is not a plausible time for a route"
    except (ValueError, OverflowError):
        p["recorded_at"] = f"must be an ISO-8601 time, got {data.get('recorded_at')!r}"
    payload: dict[str, Any] = {}
    if kind in ("collected", "unloaded"):
        payload["kg"] = _kg_map(data.get("kg"), "kg", p)
    if kind == "skipped":
        reason = str(data.get("reason", "")).strip()
        if not reason:
            p["reason"] = "a skipped stop needs a reason"
        payload["reason"] = reason
    stop_id = data.get("stop_id")
    if not isinstance(stop_id, int) or isinstance(stop_id, bool):
        p["stop_id"] = "missing or not an integer"
    elif not 1 <= stop_id < 2**63:
        p["stop_id"] = f"not a stop id: {stop_id}"
    if p:
        raise InvalidInput(p)
    stop = session.get(m.Stop, stop_id)
    if stop is not None and stop.route.plan.status == "superseded" and stop.route.plan.published_at:
        # Queued offline before a re-plan was published: the work was done all the same.
        stop = _on_live_route(session, stop)
    if (
        stop is None
        or driver.vehicle_id is None
        or stop.route.vehicle_id != driver.vehicle_id
        or stop.route.plan.status not in ("published", "in_progress", "completed", "superseded")
        or stop.route.plan.published_at is None
    ):  # a completed plan still takes a tablet's late, offline-queued events
        raise NotFound(f"stop {stop_id} is not on your published route")
    if kind == "collected" and stop.kind not in ("pickup", "station"):
        raise InvalidInput({"kind": f"nothing is collected at a {stop.kind} stop"})
    if kind == "unloaded" and stop.kind != "unload":
        raise InvalidInput({"kind": f"a {stop.kind} stop is not a transfer station"})
    ev = m.StopEvent(
        client_event_id=eid,
        stop_id=stop.id,
        driver_id=driver.id,
        kind=kind,
        recorded_at=at.astimezone(dt.UTC),  # SQLite keeps no offset: store UTC
        payload=payload,
    )
    try:
        with session.begin_nested():
            session.add(ev)
            session.flush()
    except IntegrityError:  # the same event raced in from a retry
        again = session.scalar(select(m.StopEvent).where(m.StopEvent.client_event_id == eid))
        if again is None:
            raise
        return again, False
    plan = stop.route.plan
    if plan.status == "published":
        plan.status = "in_progress"
    session.flush()
    if plan.status == "in_progress" and _all_done(session, plan):
        plan.status = "completed"
        session.add(
            m.AuditLog(
                actor=f"driver:{driver.ref}",
                action="plan.completed",
                entity="plan",
                entity_id=str(plan.id),
                detail={"last_event": eid},
            )
        )
    if stop.booking is not None:
        if kind == "collected":
            set_status(session, stop.booking, "collected", actor=f"driver:{driver.ref}")
        elif kind == "skipped":
            _roll_over(session, stop.booking, driver, payload["reason"])
    session.flush()
    return ev, True


def _on_live_route(session: Session, stop: m.Stop) -> m.Stop:
    """The same visit (booking, collection point or station) on the van's live route of
    the day, or ``stop`` itself when the new version no longer has it."""
    old = stop.route
    live = session.scalar(
        select(m.Route)
        .join(m.Plan)
        .where(
            m.Route.vehicle_id == old.vehicle_id,
            m.Plan.district_id == old.plan.district_id,
            m.Plan.date == old.plan.date,
            m.Plan.status.in_(("published", "in_progress", "completed")),
        )
        .order_by(m.Plan.id.desc())
    )
    if live is None:
        return stop
    for st in live.stops:
        if st.kind != stop.kind:
            continue
        if (
            (stop.booking_id is not None and st.booking_id == stop.booking_id)
            or (stop.collection_point_id is not None
                and st.collection_point_id == stop.collection_point_id)
            or (stop.transfer_station_id is not None
                and st.transfer_station_id == stop.transfer_station_id)
        ):  # fmt: skip
            return st
    return stop


DONE_KINDS = {
    "pickup": ("collected", "skipped"),
    "station": ("collected", "skipped"),
    "unload": ("unloaded",),
}


def _all_done(session: Session, plan: m.Plan) -> bool:
    """Every pickup and collection point is collected or skipped, every unload reported."""
    want = {s.id: DONE_KINDS[s.kind] for r in plan.routes for s in r.stops if s.kind in DONE_KINDS}
    if not want:
        return False
    done = set()
    for stop_id, kind in session.execute(
        select(m.StopEvent.stop_id, m.StopEvent.kind).where(m.StopEvent.stop_id.in_(list(want)))
    ):
        if kind in want[stop_id]:
            done.add(stop_id)
    return done == set(want)


def route_etas(session: Session, route: m.Route) -> list[dict[str, Any]]:
    """Each stop's planned and expected times, from the latest event on the route.

    The delay seen at the last reported stop (arrival late against plan, or the stop
    finished late) carries forward; waiting time before a window opens absorbs it. A van
    ahead of schedule keeps the planned times (windows do not open earlier).
    """
    stops = list(route.stops)
    events = list(
        session.scalars(
            select(m.StopEvent)
            .where(m.StopEvent.stop_id.in_([s.id for s in stops]))
            .order_by(m.StopEvent.recorded_at)
        )
    )
    by_stop: dict[int, list[m.StopEvent]] = {}
    for ev in events:
        by_stop.setdefault(ev.stop_id, []).append(ev)
    last_k, delay = -1, 0
    for k, st in enumerate(stops):
        evs = by_stop.get(st.id)
        if not evs:
            continue
        last_k = k
        ev = evs[-1]
        at = ev.recorded_at
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        local = at.astimezone(ZoneInfo(TIMEZONE))
        t = local.hour * 3600 + local.minute * 60 + local.second
        planned = st.arrival_s if ev.kind == "arrived" else st.departure_s
        delay = max(0, t - planned)
    out = []
    carry = delay
    for k, st in enumerate(stops):
        done = k <= last_k
        if k > last_k:
            wait = st.start_s - st.arrival_s
            eta_arrival = st.arrival_s + carry
            eta_start = max(st.start_s, eta_arrival)
            carry = max(0, carry - wait)
        else:
            eta_arrival, eta_start = st.arrival_s, st.start_s
        out.append(
            {
                "stop_id": st.id,
                "sequence": st.sequence,
                "kind": st.kind,
                "planned_arrival_s": st.arrival_s,
                "eta_arrival_s": eta_arrival,
                "eta_start_s": eta_start,
                "delay_s": eta_arrival - st.arrival_s if not done else 0,
                "reported": [e.kind for e in by_stop.get(st.id, [])],
                "late_for_window": bool(
                    not done and st.windows and not any(a <= eta_start <= b for a, b in st.windows)
                ),
            }
        )
    return out


def _roll_over(session: Session, b: m.Booking, driver: m.Driver, reason: str) -> None:
    set_status(session, b, "missed", actor=f"driver:{driver.ref}", note=reason)
    b.date = b.date + dt.timedelta(days=1)
    b.priority = min(9, b.priority + 1)
    set_status(
        session,
        b,
        "queued",
        actor="system",
        note=f"rolled over to {b.date} with priority {b.priority}",
    )


def collected_totals(session: Session, plan_id: int) -> dict[str, float]:
    """Kilograms collected per material on a plan, from the events (each counted once)."""
    rows = session.scalars(
        select(m.StopEvent)
        .join(m.Stop)
        .join(m.Route)
        .where(m.Route.plan_id == plan_id, m.StopEvent.kind == "collected")
    )
    out: dict[str, float] = {}
    for ev in rows:
        for mat, kg in ev.payload.get("kg", {}).items():
            out[mat] = out.get(mat, 0.0) + float(kg)
    return out


def custody(session: Session, reference: str) -> list[dict[str, Any]]:
    """Chain of custody of a tracked booking (e-waste, appliances): booking -> vehicle -> station."""
    b = session.scalar(select(m.Booking).where(m.Booking.reference == reference))
    if b is None:
        raise NotFound(f"no booking {reference!r}")
    chain: list[dict[str, Any]] = [
        {
            "step": "booked",
            "at": m.as_utc(b.created_at),
            "materials": [x for x in b.materials if x["material"] in TRACKED_MATERIALS],
        }
    ]
    pick = session.scalar(
        select(m.StopEvent)
        .join(m.Stop)
        .where(m.Stop.booking_id == b.id, m.StopEvent.kind == "collected")
    )
    if pick is None:
        return chain
    route = pick.stop.route
    tracked = {k: v for k, v in pick.payload.get("kg", {}).items() if k in TRACKED_MATERIALS}
    chain.append(
        {
            "step": "collected",
            "at": m.as_utc(pick.recorded_at),
            "vehicle": route.vehicle.plate,
            "kg": tracked,
        }
    )
    later = [s for s in route.stops if s.kind == "unload" and s.sequence > pick.stop.sequence]
    for s in later:
        ev = session.scalar(
            select(m.StopEvent).where(m.StopEvent.stop_id == s.id, m.StopEvent.kind == "unloaded")
        )
        if ev is not None:
            assert s.transfer_station is not None
            chain.append(
                {
                    "step": "delivered",
                    "at": m.as_utc(ev.recorded_at),
                    "station": s.transfer_station.ref,
                    "vehicle": route.vehicle.plate,
                    "kg": {
                        k: v for k, v in ev.payload.get("kg", {}).items() if k in TRACKED_MATERIALS
                    },
                }
            )
            break
    return chain
