"""Plan JSON: the versioned export format (docs/plan-format.md) read by the legality
checker, the web map and outside checks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from dispatch import models as m
from dispatch.settings import UTC_OFFSET

PLAN_FORMAT = "loopvan-plan/1"
_TZ = dt.timezone(dt.timedelta(hours=8))


def iso(day: dt.date, seconds: int) -> str:
    """Seconds after local midnight of ``day`` as ISO-8601 with the +08:00 offset."""
    return (
        dt.datetime.combine(day, dt.time(), tzinfo=_TZ) + dt.timedelta(seconds=int(seconds))
    ).isoformat()


def seconds_of_day(t: dt.time) -> int:
    """A time of day as seconds after midnight."""
    return t.hour * 3600 + t.minute * 60 + t.second


def _stop_ref(s: m.Stop) -> tuple[str, str, list[str], dict[str, Any]]:
    if s.booking is not None:
        b = s.booking
        return (
            b.reference,
            b.address,
            sorted({x["material"] for x in b.materials}),
            {
                "booking": {
                    "reference": b.reference,
                    "materials": b.materials,
                    "est_kg": b.est_kg,
                    "est_m3": b.est_m3,
                }
            },
        )
    if s.collection_point is not None:
        cp = s.collection_point
        return (
            cp.ref,
            cp.name,
            ["paper", "metal", "plastic", "glass", "textiles"],
            {
                "collection_point": {
                    "compound": cp.compound,
                    "households": cp.households,
                    # the stationing estimate the planner loads the van with
                    "expected_kg": cp.expected_kg,
                    "expected_m3": cp.expected_m3,
                }
            },
        )
    if s.transfer_station is not None:
        return s.transfer_station.ref, s.transfer_station.name, [], {}
    if s.kind == "break":
        return "break", "Driver break", [], {}
    depot = s.route.vehicle.depot
    return depot.ref, depot.name, [], {}


def plan_json(session: Session, plan: m.Plan) -> dict[str, Any]:
    """The plan in plan JSON (format ``loopvan-plan/1``)."""
    day = plan.date
    vehicles = []
    routes = []
    for r in plan.routes:
        v = r.vehicle
        vehicles.append(
            {
                "plate": v.plate,
                "class": v.vehicle_class.code,
                "fuel": v.vehicle_class.fuel,
                "tail_lift": v.vehicle_class.tail_lift,
                "capacity_kg": v.capacity_kg,
                "capacity_m3": v.capacity_m3,
                "depot": v.depot.ref,
                "shift": {
                    "start": iso(day, seconds_of_day(v.shift_start)),
                    "end": iso(day, seconds_of_day(v.shift_end)),
                },
                "weight_class": v.vehicle_class.weight_class,
                "gross_weight_kg": v.vehicle_class.gross_weight_kg,
                "permits": list(v.permits or []),
                "speed_profile": v.vehicle_class.speed_profile,
                "height_m": v.vehicle_class.height_m,
                "width_m": v.vehicle_class.width_m,
                "length_m": v.vehicle_class.length_m,
            }
        )
        if v.break_start is not None and v.break_end is not None and v.break_minutes:
            vehicles[-1]["break"] = {
                "start": iso(day, seconds_of_day(v.break_start)),
                "end": iso(day, seconds_of_day(v.break_end)),
                "minutes": v.break_minutes,
            }
        stops = []
        for s in r.stops:
            ref, name, materials, extra = _stop_ref(s)
            d: dict[str, Any] = {
                "seq": s.sequence,
                "stop_id": s.id,
                "kind": s.kind,
                "id": ref,
                "name": name,
                "lat": s.lat,
                "lon": s.lon,
                "node": s.node,
                "arrival": iso(day, s.arrival_s),
                "start": iso(day, s.start_s),
                "departure": iso(day, s.departure_s),
                "load_after": {"kg": s.load_kg, "m3": round(s.load_m3, 3)},
                "materials": materials,
            }
            if s.windows:
                d["windows"] = [[iso(day, a), iso(day, b)] for a, b in s.windows]
            if s.leg:
                d["leg"] = {
                    "duration_s": s.leg["duration_s"],
                    "distance_m": s.leg["distance_m"],
                    "nodes": s.leg["nodes"],
                    "enter_times": [iso(day, t) for t in s.leg["enter_s"]],
                    "start_edge": s.leg["start_edge"],
                    "end_edge": s.leg["end_edge"],
                }
                if "keys" in s.leg:  # legs stored before edge keys name node pairs only
                    d["leg"]["keys"] = s.leg["keys"]
            d.update(extra)
            stops.append(d)
        routes.append(
            {
                "vehicle": v.plate,
                "distance_m": r.distance_m,
                "duration_s": r.duration_s,
                "version": r.version,
                "stops": stops,
            }
        )
    unassigned = []
    for u in plan.unassigned:
        if u.booking is not None:
            ref, kind_name = u.booking.reference, u.booking.address
        else:
            assert u.collection_point is not None
            ref, kind_name = u.collection_point.ref, u.collection_point.name
        unassigned.append(
            {"kind": u.kind, "id": ref, "name": kind_name, "reason": u.reason, "detail": u.detail}
        )
    return {
        "format": PLAN_FORMAT,
        "plan": {
            "id": plan.id,
            "date": day.isoformat(),
            "utc_offset": UTC_OFFSET,
            "district": {
                "code": plan.district.code,
                "name_zh": plan.district.name_zh,
                "name_en": plan.district.name_en,
            },
            "status": plan.status,
            "version": plan.version,
            "created_at": m.as_utc(plan.created_at),
            "solver": plan.solver_stats,
        },
        "vehicles": vehicles,
        "facilities": [
            {
                "id": f["id"],
                "accepts": f["accepts"],
                "open": [[iso(day, a), iso(day, b)] for a, b in f["open"]],
                "daily_intake_kg": f.get("daily_intake_kg"),
            }
            for f in plan.facilities
        ],
        "routes": routes,
        "unassigned": unassigned,
    }
