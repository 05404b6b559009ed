"""Build a district's plan for a date: rows -> routing problem -> solve -> stored plan.

Every plan is exported to plan JSON and replayed by the legality checker before it
is stored; an illegal plan is never saved.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import models as m
from dispatch.materials import TAIL_LIFT_MATERIALS
from road_rules.hours import day_windows
from road_rules.legality import Violation, check_plan
from routing.compiled import compile_graph
from routing.matrix import TravelMatrix
from routing.network import RoadNetwork
from routing.problem import Facility, Limits, Place, Problem, Stop, Vehicle, Window
from routing.restrictions import ClassSpec
from routing.result import Result
from routing.snap import snap
from routing.solver import solve
from routing.speeds import load_speed_config

#: Geometry is the same for every profile; snapping uses this one.
SNAP_PROFILE = "light_truck"


class PlanningError(ValueError):
    """A plan cannot be built (nothing to plan, unknown district, illegal result)."""


class IllegalPlanError(PlanningError):
    """The solver's answer failed the legality replay; it is not stored."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        lines = "; ".join(
            f"{v.rule} {v.vehicle} {v.stop} {v.at}: {v.message}" for v in violations[:10]
        )
        super().__init__(
            f"the solver produced an illegal plan ({len(violations)} violations): {lines}"
        )


def _secs(t: dt.time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def pickup_service_s(b: m.Booking) -> int:
    """Door-to-door service time: 5 min, plus loading time by weight, more for bulky items."""
    bulky = any(x["material"] in TAIL_LIFT_MATERIALS for x in b.materials)
    return 300 + int(b.est_kg * 6) + (600 if bulky else 0)


@dataclass
class _Built:
    problem: Problem
    matrices: dict[str, TravelMatrix]
    place_ref: list[tuple[str, Any]]  # (kind, row) per place
    vehicles: list[m.Vehicle]
    stop_rows: dict[str, Any]


def class_spec(vc: m.VehicleClass, speeds: dict[str, dict[str, float]] | None = None) -> ClassSpec:
    """The routing view of a vehicle class (speed profile, overrides, dimensions)."""
    overrides = tuple(sorted((speeds or {}).get(vc.speed_profile, {}).items()))
    return ClassSpec(vc.speed_profile, vc.gross_weight_kg, vc.height_m, vc.length_m, overrides)


def build_problem(
    session: Session,
    network: RoadNetwork,
    district: m.District,
    day: dt.date,
    *,
    speeds: dict[str, dict[str, float]] | None = None,
) -> _Built:
    """Turn the district's rows for ``day`` into a routing problem.

    Each vehicle class gets its own compiled graph (edges it may never use removed), its
    own snapping of every place onto the edges it may use, and its own matrices.
    """
    vehicles = list(
        session.scalars(
            select(m.Vehicle)
            .join(m.Depot)
            .where(m.Depot.district_id == district.id, m.Vehicle.active)
            .order_by(m.Vehicle.id)
        )
    )
    depots = sorted({v.depot for v in vehicles}, key=lambda d: d.id)
    stations = list(
        session.scalars(
            select(m.TransferStation)
            .where(m.TransferStation.district_id == district.id)
            .order_by(m.TransferStation.id)
        )
    )
    bookings = list(
        session.scalars(
            select(m.Booking)
            .where(
                m.Booking.district_id == district.id,
                m.Booking.date == day,
                m.Booking.status.in_(("queued", "planned")),
            )
            .order_by(m.Booking.id)
        )
    )
    points = list(
        session.scalars(
            select(m.CollectionPoint)
            .where(m.CollectionPoint.district_id == district.id)
            .order_by(m.CollectionPoint.id)
        )
    )
    classes = {v.vehicle_class.code: class_spec(v.vehicle_class, speeds) for v in vehicles}
    graphs = {code: compile_graph(network, spec) for code, spec in classes.items()}
    base = compile_graph(network, SNAP_PROFILE)

    places: list[Place] = []
    rows: list[Any] = []
    place_ref: list[tuple[str, Any]] = []

    def add(kind: str, row: Any, label: str) -> int:
        s = snap(base, row.lon, row.lat, label=label, max_distance_m=10_000)
        places.append(
            Place(label, row.lon, row.lat, int(base.osm_ids[base.ev[s.edge]]), s.distance_m)
        )
        place_ref.append((kind, row))
        rows.append(row)
        return len(places) - 1

    depot_place = {d.id: add("depot", d, f"depot {d.ref}") for d in depots}
    facilities = []
    for st in stations:
        p = add("unload", st, f"station {st.ref}")
        wins = tuple(Window(a, b) for a, b in day_windows(st.opening_hours, day))
        facilities.append(Facility(st.ref, p, wins, frozenset(st.accepts), st.unload_minutes * 60))
    stops: list[Stop] = []
    stop_rows: dict[str, Any] = {}
    for cp in points:
        wins = tuple(Window(a, b) for a, b in day_windows(cp.stationing_hours, day))
        if not wins:
            continue  # not a stationing day for this point
        p = add("station", cp, f"collection point {cp.ref}")
        sid = f"cp:{cp.ref}"
        stops.append(
            Stop(
                sid,
                "station",
                p,
                cp.dwell_minutes * 60,
                wins,
                int(cp.expected_kg),
                math.ceil(cp.expected_m3 * 1000),
                ("paper", "metal", "plastic", "glass", "textiles"),
            )
        )
        stop_rows[sid] = cp
    for b in bookings:
        p = add("pickup", b, f"booking {b.reference}")
        sid = f"bk:{b.reference}"
        mats = tuple(sorted({x["material"] for x in b.materials}))
        stops.append(
            Stop(
                sid,
                "pickup",
                p,
                pickup_service_s(b),
                (Window(_secs(b.window_start), _secs(b.window_end)),),
                math.ceil(b.est_kg),
                math.ceil(b.est_m3 * 1000),
                mats,
                needs_tail_lift=bool(set(mats) & TAIL_LIFT_MATERIALS),
                priority=b.priority,
            )
        )
        stop_rows[sid] = b

    matrices: dict[str, TravelMatrix] = {}
    for code, cg in graphs.items():
        snaps = [
            snap(cg, r.lon, r.lat, label=pl.label, max_distance_m=10_000)
            for r, pl in zip(rows, places, strict=True)
        ]
        matrices[code] = TravelMatrix(cg, snaps)
    rvehicles = tuple(
        Vehicle(
            v.plate,
            v.vehicle_class.code,  # the matrix key: one matrix per vehicle class
            depot_place[v.depot_id],
            Window(_secs(v.shift_start), _secs(v.shift_end)),
            v.capacity_kg,
            int(v.capacity_m3 * 1000),
            v.vehicle_class.tail_lift,
        )
        for v in vehicles
    )
    problem = Problem(
        tuple(places),
        rvehicles,
        tuple(stops),
        tuple(facilities),
        {p: tm.seconds for p, tm in matrices.items()},
        {p: tm.metres for p, tm in matrices.items()},
    )
    return _Built(problem, matrices, place_ref, vehicles, stop_rows)


def build_plan(
    session: Session,
    network: RoadNetwork,
    district_code: str,
    day: dt.date,
    *,
    limits: Limits | None = None,
    actor: str = "system",
    speeds_path: Path | None = None,
) -> m.Plan:
    """Build, check and store the draft plan of a district for ``day``.

    Raises
    ------
    PlanningError
        Unknown district, no vehicle, or an illegal solver answer.
    """
    district = session.scalar(select(m.District).where(m.District.code == district_code))
    if district is None:
        raise PlanningError(f"unknown district {district_code!r}")
    speeds = load_speed_config(speeds_path) if speeds_path else None
    built = build_problem(session, network, district, day, speeds=speeds)
    if not built.vehicles:
        raise PlanningError(f"district {district.name_en} has no active vehicle")
    result = solve(built.problem, limits or Limits())
    plan = _store(session, built, result, district, day)
    from dispatch.export import plan_json

    violations = check_plan(
        plan_json(session, plan), has_edge=lambda u, v: network.graph.has_edge(u, v)
    )
    if violations:
        raise IllegalPlanError(violations)
    for old in session.scalars(
        select(m.Plan).where(
            m.Plan.district_id == district.id,
            m.Plan.date == day,
            m.Plan.id != plan.id,
            m.Plan.status == "draft",
        )
    ):
        old.status = "superseded"
    session.add(
        m.AuditLog(
            actor=actor,
            action="plan.build",
            entity="plan",
            entity_id=str(plan.id),
            detail={"district": district.code, "date": day.isoformat(), **plan.solver_stats},
        )
    )
    session.flush()
    return plan


def _store(
    session: Session, built: _Built, result: Result, district: m.District, day: dt.date
) -> m.Plan:
    prob = built.problem
    plan = m.Plan(
        district_id=district.id,
        date=day,
        status="draft",
        solver_stats=dict(result.stats),
        facilities=[
            {"id": f.id, "open": [[w.start, w.end] for w in f.open], "accepts": sorted(f.accepts)}
            for f in prob.facilities
        ],
    )
    session.add(plan)
    veh_by_plate = {v.plate: v for v in built.vehicles}
    stop_by_id = {s.id: s for s in prob.stops}
    served: set[str] = set()
    for r in result.routes:
        veh = veh_by_plate[r.vehicle_id]
        tm = built.matrices[veh.vehicle_class.code]
        route = m.Route(vehicle_id=veh.id, distance_m=r.distance_m, duration_s=r.duration_s)
        plan.routes.append(route)
        prev_place: int | None = None
        prev_dep = 0
        for seq, vis in enumerate(r.visits):
            _kind, row = built.place_ref[vis.place]
            stop = m.Stop(
                sequence=seq,
                kind=vis.kind,
                lat=row.lat,
                lon=row.lon,
                node=prob.places[vis.place].node,
                arrival_s=vis.arrival,
                start_s=vis.start,
                departure_s=vis.departure,
                load_kg=vis.load_kg,
                load_m3=vis.load_l / 1000.0,
            )
            if vis.kind == "depot":
                stop.depot_id = row.id
            elif vis.kind == "unload":
                stop.transfer_station_id = row.id
            elif vis.kind == "station":
                stop.collection_point_id = row.id
            else:
                stop.booking_id = row.id
            if vis.ref in stop_by_id:
                served.add(vis.ref)
                stop.windows = [[w.start, w.end] for w in stop_by_id[vis.ref].windows]
            if prev_place is not None:
                leg = tm.leg(prev_place, vis.place)
                stop.leg = {
                    "duration_s": leg.seconds,
                    "distance_m": leg.metres,
                    "nodes": leg.nodes,
                    "enter_s": [prev_dep + round(ms / 1000) for ms in leg.node_offsets_ms],
                    "start_edge": list(leg.start_edge),
                    "end_edge": list(leg.end_edge),
                }
            route.stops.append(stop)
            prev_place, prev_dep = vis.place, vis.departure
    for u in result.unassigned:
        row = built.stop_rows[u.stop_id]
        s = stop_by_id[u.stop_id]
        plan.unassigned.append(
            m.UnassignedStop(
                kind=s.kind,
                reason=u.reason,
                detail=u.detail,
                booking_id=row.id if s.kind == "pickup" else None,
                collection_point_id=row.id if s.kind == "station" else None,
            )
        )
    for sid in served:
        row = built.stop_rows[sid]
        if isinstance(row, m.Booking):
            row.status = "planned"
    session.flush()
    return plan
