"""Slot suggestions for a new booking: the windows of the next days that can take it.

For a day with a plan (draft, approved or published), each slot is checked by insertion
into that plan: the new pickup goes between two consecutive stops of a route whose van
can carry it; travel to and from it comes from two Dijkstra runs on the van class's road
graph from the pickup's kerb; the later stops are pushed back and must still meet their
windows and the shift end; the load until the next unload must still fit. The cheapest
insertion (extra van minutes) is the slot's cost.

For a day with no plan yet, the slot is checked against the remaining fleet capacity:
van-minutes in the slot left after the bookings already queued for it (each costed at
its service time plus an average leg), and kilograms left in the fleet that day.

Suggestions are advice for the resident; the nightly plan still decides, and every plan
is replayed by the legality checker.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import models as m
from dispatch.booking import HORIZON_DAYS, validate
from dispatch.editing import current_sequences, visits_by_ref
from dispatch.errors import InvalidInput
from dispatch.export import seconds_of_day
from dispatch.materials import TAIL_LIFT_MATERIALS
from dispatch.planning import build_problem, pickup_service_s, snap_check
from dispatch.rights import session_rights
from routing.errors import ProblemError
from routing.network import RoadNetwork
from routing.problem import Window
from routing.retime import retime

#: The windows residents choose from (local time).
SLOTS: tuple[tuple[dt.time, dt.time], ...] = tuple(
    (dt.time(h), dt.time(h + 2)) for h in (8, 10, 12, 14, 16, 18)
)
#: Average leg between door-to-door pickups, for the fleet-capacity estimate.
AVERAGE_LEG_S = 8 * 60
LIVE = ("draft", "approved", "published", "in_progress")
#: Insertion positions re-timed per slot, cheapest estimate first.
TRIES = 40


def suggest(
    session: Session,
    network: RoadNetwork,
    data: dict[str, Any],
    *,
    today: dt.date,
    days: int = 3,
    max_snap_m: float = 500.0,
    rules_dir: Path | None = None,
) -> dict[str, Any]:
    """Slots of the ``days`` days after ``today`` that can take the booking, best first.

    ``data`` holds ``lat``, ``lon`` (optionally ``coordinates: gcj02``) and
    ``materials`` as for a booking. Returns ``{"district", "slots": [...], "refused": [...]}``.

    Raises
    ------
    InvalidInput
        Bad place or materials (named), or ``days`` outside 1..14.
    """
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= HORIZON_DAYS:
        raise InvalidInput({"days": f"must be an integer 1..{HORIZON_DAYS}, got {days!r}"})
    if not isinstance(data, dict):
        raise InvalidInput({"body": "must be a JSON object"})
    probe: dict[str, Any] = {
        "resident": {"name": "-", "phone": "0"},
        "address": "-",
        "date": (today + dt.timedelta(days=1)).isoformat(),
        "window": {"start": "08:00", "end": "10:00"},
        **{k: data[k] for k in ("lat", "lon", "coordinates", "materials") if k in data},
    }
    clean = validate(
        probe,
        today=today,
        session=session,
        snap_distance=snap_check(network, max_snap_m),
        max_snap_m=max_snap_m,
    )
    district = session.get_one(m.District, clean["district_id"])
    kg = float(sum(x["kg"] for x in clean["materials"]))
    m3 = float(sum(x["m3"] for x in clean["materials"]))
    bulky = any(x["material"] in TAIL_LIFT_MATERIALS for x in clean["materials"])
    service = pickup_service_s(m.Booking(materials=clean["materials"], est_kg=kg))
    out: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    for k in range(1, days + 1):
        day = today + dt.timedelta(days=k)
        plan = session.scalars(
            select(m.Plan)
            .where(m.Plan.district_id == district.id, m.Plan.date == day, m.Plan.status.in_(LIVE))
            .order_by(m.Plan.id.desc())
        ).first()
        if plan is not None:
            fields = {k: clean[k] for k in ("lat", "lon", "materials")}
            rows = _by_insertion(
                session, network, plan, {**fields, "est_kg": kg, "est_m3": m3}, rules_dir
            )
        else:
            rows = _by_capacity(session, district, day, kg, bulky, service)
        for slot, row in zip(SLOTS, rows, strict=True):
            item = {"date": day.isoformat(), "start": f"{slot[0]:%H:%M}", "end": f"{slot[1]:%H:%M}"}
            (out if row.get("feasible") else refused).append({**item, **row})
    out.sort(key=lambda r: (round(r["extra_minutes"] / 5), r["date"], r["start"]))
    for rank, r in enumerate(out, 1):
        r["rank"] = rank
    return {
        "district": district.code,
        "district_name": district.name_en,
        "district_name_zh": district.name_zh,
        "service_minutes": round(service / 60, 1),
        "slots": out,
        "refused": refused,
    }


def _by_insertion(
    session: Session,
    network: RoadNetwork,
    plan: m.Plan,
    probe_fields: dict[str, Any],
    rules_dir: Path | None,
) -> list[dict[str, Any]]:
    """Each slot checked by inserting the booking into ``plan``'s routes and re-timing them
    exactly as a dispatcher edit would (same matrices, same re-timer)."""
    district = plan.district
    with session.begin_nested() as sp:
        probe = m.Booking(
            reference="SLOT-PROBE",
            resident_name="-",
            resident_phone="-",
            address="-",
            district_id=district.id,
            date=plan.date,
            window_start=SLOTS[0][0],
            window_end=SLOTS[-1][1],
            status="queued",
            **probe_fields,
        )
        session.add(probe)
        session.flush()
        rights = session_rights(session, network, rules_dir)
        built = build_problem(session, network, district, plan.date, rights=rights)
        sp.rollback()
    prob = built.problem
    stop_of = {s.id: s for s in prob.stops}
    new = stop_of.get("bk:SLOT-PROBE")
    if new is None:
        why = next(
            (u.detail for s, _row, u in built.pre_unassigned if s.id == "bk:SLOT-PROBE"),
            "no van of the plan can reach it",
        )
        return [{"feasible": False, "reason": why}] * len(SLOTS)
    visits = visits_by_ref(prob)
    vans = {v.id: v for v in prob.vehicles}
    candidates: list[tuple[float, str, int]] = []  # (estimated extra s, plate, position)
    base: dict[str, Any] = {}
    for plate, refs in current_sequences(plan).items():
        v = vans.get(plate)
        if v is None or (new.needs_tail_lift and not v.tail_lift):
            continue
        if new.demand_kg > v.capacity_kg or new.demand_l > v.capacity_l:
            continue
        # the route as it stands, its unload trips included (positions count them too)
        seq = [visits[r] for r in refs if r in visits]
        try:
            base[plate] = (seq, retime(prob, v, seq))
        except ProblemError:
            continue
        sec = prob.seconds[v.profile]
        places = [v.depot_place, *(x.place for x in seq), v.depot_place]
        for pos in range(len(seq) + 1):
            a, b = places[pos], places[pos + 1]
            est = float(sec[a, new.place] + sec[new.place, b] - sec[a, b])
            candidates.append((est, plate, pos))
    candidates.sort()
    out: list[dict[str, Any]] = []
    for ws, we in SLOTS:
        trial_stop = dataclasses.replace(
            new, windows=(Window(seconds_of_day(ws), seconds_of_day(we)),)
        )
        found: dict[str, Any] = {"feasible": False, "reason": "no room on the routes that day"}
        for _est, plate, pos in candidates[:TRIES]:
            seq, old = base[plate]
            try:
                route = retime(prob, vans[plate], [*seq[:pos], trial_stop, *seq[pos:]])
            except ProblemError:
                continue
            visit = next(x for x in route.visits if x.ref == new.id)
            found = {
                "feasible": True,
                "basis": f"insertion into plan {plan.id} ({plan.status})",
                "vehicle": plate,
                "position": pos,
                "eta": f"{visit.start // 3600:02d}:{visit.start % 3600 // 60:02d}",
                "extra_minutes": round((route.duration_s - old.duration_s) / 60, 1),
                "extra_km": round((route.distance_m - old.distance_m) / 1000, 2),
            }
            break
        out.append(found)
    return out


def _by_capacity(
    session: Session, district: m.District, day: dt.date, kg: float, bulky: bool, service: int
) -> list[dict[str, Any]]:
    vans = list(
        session.scalars(
            select(m.Vehicle)
            .join(m.Depot)
            .where(m.Depot.district_id == district.id, m.Vehicle.active.is_(True))
        )
    )
    if bulky:
        vans = [v for v in vans if v.vehicle_class.tail_lift]
    if not vans:
        return [{"feasible": False, "reason": "no van in this district can take it"}] * len(SLOTS)
    booked = list(
        session.scalars(
            select(m.Booking).where(
                m.Booking.district_id == district.id,
                m.Booking.date == day,
                m.Booking.status.in_(("requested", "queued", "planned")),
            )
        )
    )
    spare_kg = sum(v.capacity_kg for v in vans) * 2 - sum(b.est_kg for b in booked)  # 2 trips
    rows: list[dict[str, Any]] = []
    for ws, we in SLOTS:
        w0, w1 = seconds_of_day(ws), seconds_of_day(we)
        supply = sum(
            max(0, min(w1, seconds_of_day(v.shift_end)) - max(w0, seconds_of_day(v.shift_start)))
            for v in vans
        )
        demand = 0.0
        for b in booked:
            b0, b1 = seconds_of_day(b.window_start), seconds_of_day(b.window_end)
            overlap = max(0, min(w1, b1) - max(w0, b0))
            if overlap:
                work = 300 + b.est_kg * 6 + AVERAGE_LEG_S
                demand += work * overlap / (b1 - b0)
        need = service + AVERAGE_LEG_S
        if supply == 0:
            rows.append({"feasible": False, "reason": "no van works in this window"})
        elif kg > spare_kg:
            rows.append({"feasible": False, "reason": "the fleet is full that day"})
        elif supply - demand < need:
            rows.append({"feasible": False, "reason": "the window is fully booked"})
        else:
            used = demand / supply
            rows.append(
                {
                    "feasible": True,
                    "basis": "fleet capacity (no plan yet)",
                    "spare_share": round(1 - used, 3),
                    # expected extra van time grows as the window fills up
                    "extra_minutes": round(need * (1 + used) / 60, 1),
                }
            )
    return rows
