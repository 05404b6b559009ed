"""Build a district's plan for a date: rows -> routing problem -> solve -> stored plan.

Road rights enter in three places: each vehicle group (class, permits, shift) routes on
a matrix without the edges any of its time bands forbids during its shift (sound for
every departure time: a conservative first method, see the solver issue for
band-specific matrices); pickups and stationing visits snap only to roads where
stopping is allowed; stationing windows are the point's own hours intersected with the
district's stationing rules. Every plan is then exported to plan JSON and replayed by
the legality checker with the same rules before it is stored; an illegal plan is never
saved.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse.csgraph import connected_components
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import models as m
from dispatch.booking import set_status
from dispatch.export import plan_json, seconds_of_day
from dispatch.materials import TAIL_LIFT_MATERIALS
from dispatch.rights import RoadRights, session_rights
from road_rules.evaluate import Band, bands, intersect, stationing_windows, stopping_edges
from road_rules.hours import day_windows
from road_rules.legality import Violation, check_plan
from road_rules.model import VehicleInfo, plate_last_digit
from routing.compiled import compile_graph
from routing.edge_times import edge_seconds, spec_from_vehicle
from routing.errors import SnapError
from routing.matrix import MatrixCache, TravelMatrix
from routing.network import RoadNetwork
from routing.problem import Facility, Limits, Place, Problem, Stop, Vehicle, Window
from routing.restrictions import ClassSpec
from routing.result import Result, Unassigned
from routing.snap import snap
from routing.solver import solve
from routing.speeds import load_speed_config

#: Geometry is the same for every profile; the displayed place uses this one.
SNAP_PROFILE = "light_truck"
RECYCLABLES = ("paper", "metal", "plastic", "glass", "textiles")


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


#: Statuses of bookings on a day already under way (re-planning, editing a new version).
UNDER_WAY = ("queued", "planned", "dispatched", "collected")


def snap_check(network: RoadNetwork, max_snap_m: float) -> Callable[[float, float], float]:
    """``(lon, lat) -> metres`` to the nearest road a van may use (how bookings are checked)."""
    cg = compile_graph(network, SNAP_PROFILE)

    def dist(lon: float, lat: float) -> float:
        try:
            return snap(cg, lon, lat, max_distance_m=max_snap_m).distance_m
        except SnapError as exc:
            return exc.distance_m if exc.distance_m is not None else float("inf")

    return dist


def pickup_service_s(b: m.Booking) -> int:
    """Door-to-door service time: 5 min, plus loading time by weight, more for bulky items."""
    bulky = any(x["material"] in TAIL_LIFT_MATERIALS for x in b.materials)
    return 300 + int(b.est_kg * 6) + (600 if bulky else 0)


def vehicle_info(v: m.Vehicle) -> VehicleInfo:
    """What the road rules need to know of a vehicle."""
    vc = v.vehicle_class
    return VehicleInfo(
        v.plate,
        vc.code,
        vc.weight_class,
        vc.fuel,
        vc.gross_weight_kg,
        frozenset(v.permits or []),
        height_m=vc.height_m,
        width_m=vc.width_m,
        length_m=vc.length_m,
    )


def class_spec(vc: m.VehicleClass, speeds: dict[str, dict[str, float]] | None = None) -> ClassSpec:
    """The routing view of a vehicle class (speed profile, overrides, dimensions)."""
    overrides = tuple(sorted((speeds or {}).get(vc.speed_profile, {}).items()))
    return ClassSpec(
        vc.speed_profile,
        vc.gross_weight_kg,
        vc.height_m,
        vc.length_m,
        overrides,
        width_m=vc.width_m,
    )


@dataclass
class _Built:
    problem: Problem
    matrices: dict[str, TravelMatrix]  # by matrix key (vehicle group)
    vehicle_key: dict[str, str]  # plate -> matrix key
    place_ref: list[tuple[str, Any]]  # (kind, row) per place
    vehicles: list[m.Vehicle]
    stop_rows: dict[str, Any]
    pre_unassigned: list[tuple[Stop, Any, Unassigned]]  # refused before solving


PLANNABLE = ("queued", "planned")


def _rows(
    session: Session, district: m.District, day: dt.date, statuses: tuple[str, ...] = PLANNABLE
) -> tuple[list[Any], ...]:
    vehicles = list(
        session.scalars(
            select(m.Vehicle)
            .join(m.Depot)
            .where(m.Depot.district_id == district.id, m.Vehicle.active)
            .order_by(m.Vehicle.id)
        )
    )
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
                m.Booking.status.in_(statuses),
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
    return vehicles, stations, bookings, points


def working_window(
    cg: Any,
    snaps: list[Any],
    depot: int,
    shift: tuple[int, int],
    day_bands: list[Band],
) -> tuple[int, int, frozenset[tuple[int, int]]]:
    """The part of a shift a van group works, and the edges it avoids all that time.

    A route must be legal whenever each leg is driven; routing on the union of the
    forbidden edges of every band the van is out in makes any timing legal. When a
    band (say, the morning peak ban on arterials) cuts the network apart, working
    through it costs more than it gives: so among the contiguous runs of bands inside
    the shift, pick the one that maximises hours x share of places reachable from the
    depot and back.
    """
    a, b = shift
    if not day_bands:
        return a, b, frozenset()
    n = len(cg.osm_ids)
    heads = np.array([cg.ev[s.edge] for s in snaps])
    tails = np.array([cg.eu[s.edge] for s in snaps])
    cands: list[
        tuple[float, float, int, int, frozenset[tuple[int, int]]]
    ] = []  # (share, hours, a, b, set)
    for i in range(len(day_bands)):
        forbidden: frozenset[tuple[int, int]] = frozenset()
        for j in range(i, len(day_bands)):
            forbidden = forbidden | day_bands[j].forbidden
            wa, wb = max(a, day_bands[i].start), min(b, day_bands[j].end)
            if wb - wa < 3600:
                continue
            csr, _best = cg.variant(cg.edges_between(forbidden))
            _k, labels = connected_components(csr, directed=True, connection="strong")
            home = labels[heads[depot]]
            ok = float(np.mean((labels[heads] == home) & (labels[tails] == home))) if n else 0.0
            cands.append((ok, (wb - wa) / 3600, wa, wb, forbidden))
    if not cands:
        return a, b, frozenset().union(*(x.forbidden for x in day_bands))
    # A short window that reaches a cluster of places is no working day: prefer windows of at
    # least half the shift when one of them reaches most places.
    long = [c for c in cands if c[1] * 3600 >= 0.5 * (b - a) and c[0] >= 0.5]
    pool = long or cands
    best = max(pool, key=lambda c: (c[0] * c[1], c[1]))
    return best[2], best[3], best[4]


def build_day_under_way(
    session: Session, network: RoadNetwork, plan: m.Plan, rules_dir: Path | None
) -> tuple[RoadRights, _Built]:
    """The road rights and the routing problem of a plan's district and day as it stands
    now: dispatched and collected bookings too (what edits and re-plans work on)."""
    rights = session_rights(session, network, rules_dir)
    built = build_problem(
        session, network, plan.district, plan.date, rights=rights, statuses=UNDER_WAY
    )
    return rights, built


def build_problem(
    session: Session,
    network: RoadNetwork,
    district: m.District,
    day: dt.date,
    *,
    speeds: dict[str, dict[str, float]] | None = None,
    rights: RoadRights | None = None,
    cache: MatrixCache | None = None,
    statuses: tuple[str, ...] = PLANNABLE,
) -> _Built:
    """Turn the district's rows for ``day`` into a routing problem (bookings in ``statuses``)."""
    cache = cache or MatrixCache()
    vehicles, stations, bookings, points = _rows(session, district, day, statuses)
    base = compile_graph(network, SNAP_PROFILE)

    # Vehicle groups share a matrix: same class, same permits, same shift.
    groups: dict[tuple[Any, ...], str] = {}
    vehicle_key: dict[str, str] = {}
    group_bands: dict[str, list[Band]] = {}
    group_shift: dict[str, tuple[int, int]] = {}
    group_spec: dict[str, ClassSpec] = {}
    nostop: set[tuple[int, int]] = set()
    by_plate = rights is not None and any(r.vehicles.plate_last_digits for r in rights.rules.rules)
    for v in vehicles:
        info = vehicle_info(v)
        a, b = seconds_of_day(v.shift_start), seconds_of_day(v.shift_end)
        # Rules may single out plates (尾号限行): then the plate's last digit splits groups.
        digit = plate_last_digit(v.plate) if by_plate else None
        gk = (v.vehicle_class.code, info.permits, a, b, digit)
        if gk not in groups:
            key = f"{v.vehicle_class.code}#{len(groups) + 1}"
            groups[gk] = key
            group_spec[key] = class_spec(v.vehicle_class, speeds)
            group_shift[key] = (a, b)
            group_bands[key] = []
            if rights is not None:
                group_bands[key] = [
                    x
                    for x in bands(rights.rules, info, day, rights.table)
                    if x.start < b and a < x.end
                ]
                ok = stopping_edges(rights.rules, info, day, rights.table, a, b)
                nostop |= rights.table.pairs(i for i in range(len(ok)) if not ok[i])
        vehicle_key[v.plate] = groups[gk]
    nostop_f = frozenset(nostop)

    places: list[Place] = []
    rows: list[Any] = []
    excl: list[frozenset[tuple[int, int]]] = []
    place_ref: list[tuple[str, Any]] = []

    def add(
        kind: str, row: Any, label: str, exclude: frozenset[tuple[int, int]] = frozenset()
    ) -> int:
        s = snap(base, row.lon, row.lat, label=label, max_distance_m=10_000, exclude=exclude)
        places.append(
            Place(label, row.lon, row.lat, int(base.osm_ids[base.ev[s.edge]]), s.distance_m)
        )
        place_ref.append((kind, row))
        rows.append(row)
        excl.append(exclude)
        return len(places) - 1

    pre: list[tuple[Stop, Any, Unassigned]] = []

    def keep(stop: Stop, row: Any, place: int | None) -> None:
        """Into the problem, or refused up front when no road nearby allows stopping."""
        if place is None:
            pre.append(
                (
                    stop,
                    row,
                    Unassigned(
                        stop.id, "no_legal_stop", "no road within 500 m where a van may stop"
                    ),
                )
            )
        else:
            stops.append(stop)

    def add_stop(kind: str, row: Any, label: str) -> int | None:
        try:
            return add(kind, row, label, nostop_f)
        except SnapError:
            return None

    depots = sorted({v.depot for v in vehicles}, key=lambda d: d.id)
    depot_place = {d.id: add("depot", d, f"depot {d.ref}") for d in depots}
    facilities = []
    for st in stations:
        # Vans stand while unloading: a station's gate sits on a road where stopping is
        # allowed (the nearest such road; any road when none is within reach).
        try:
            p = add("unload", st, f"station {st.ref}", nostop_f)
        except SnapError:
            p = add("unload", st, f"station {st.ref}")
        wins = tuple(Window(a, b) for a, b in day_windows(st.opening_hours, day))
        facilities.append(
            Facility(
                st.ref, p, wins, frozenset(st.accepts), st.unload_minutes * 60, st.daily_intake_kg
            )
        )
    stops: list[Stop] = []
    stop_rows: dict[str, Any] = {}
    for cp in points:
        own = day_windows(cp.stationing_hours, day)
        ruled = stationing_windows(rights.rules, day, cp.ref, cp.lon, cp.lat) if rights else None
        iv = intersect(own, ruled) if ruled is not None else own
        if not iv:
            continue  # not a stationing day for this point
        sid = f"cp:{cp.ref}"
        wins = tuple(Window(a, b) for a, b in iv)
        sp = add_stop("station", cp, f"collection point {cp.ref}")
        stop = Stop(
            sid,
            "station",
            sp if sp is not None else 0,
            cp.dwell_minutes * 60,
            wins,
            int(cp.expected_kg),
            math.ceil(cp.expected_m3 * 1000),
            RECYCLABLES,
        )
        stop_rows[sid] = cp
        keep(stop, cp, sp)
    for bk in bookings:
        sid = f"bk:{bk.reference}"
        mats = tuple(sorted({x["material"] for x in bk.materials}))
        sp = add_stop("pickup", bk, f"booking {bk.reference}")
        stop = Stop(
            sid,
            "pickup",
            sp if sp is not None else 0,
            pickup_service_s(bk),
            (Window(seconds_of_day(bk.window_start), seconds_of_day(bk.window_end)),),
            math.ceil(bk.est_kg),
            math.ceil(bk.est_m3 * 1000),
            mats,
            needs_tail_lift=bool(set(mats) & TAIL_LIFT_MATERIALS),
            priority=bk.priority,
        )
        stop_rows[sid] = bk
        keep(stop, bk, sp)

    matrices: dict[str, TravelMatrix] = {}
    windows: dict[str, tuple[int, int]] = {}
    depot_of_group = {vehicle_key[v.plate]: depot_place[v.depot_id] for v in vehicles}
    for key, spec in group_spec.items():
        cg = compile_graph(network, spec)
        # Never attach a place to a road this group may not use at any time of its shift
        # (a private compound road, a permanently closed street): it would be unreachable.
        gb = group_bands[key]
        always: frozenset[tuple[int, int]] = (
            frozenset.intersection(*(b.forbidden for b in gb)) if gb else frozenset()
        )
        snaps = []
        for r, pl, ex in zip(rows, places, excl, strict=True):
            try:
                snaps.append(
                    snap(
                        cg, r.lon, r.lat, label=pl.label, max_distance_m=10_000, exclude=ex | always
                    )
                )
            except (
                SnapError
            ):  # no allowed edge for this class: attach anywhere; unreachable in effect
                snaps.append(snap(cg, r.lon, r.lat, label=pl.label, max_distance_m=10_000))
        wa, wb, forbidden = working_window(
            cg, snaps, depot_of_group[key], group_shift[key], group_bands[key]
        )
        windows[key] = (wa, wb)
        matrices[key] = cache.get(cg, snaps, forbidden)
    rvehicles = []
    for v in vehicles:
        bw = None
        if v.break_start is not None and v.break_end is not None and v.break_minutes:
            bw = Window(seconds_of_day(v.break_start), seconds_of_day(v.break_end))
        wa, wb = windows[vehicle_key[v.plate]]
        if bw is not None and not (wa <= bw.start and bw.end <= wb):
            bw = None  # the van is not out over the break window: the break is taken at the depot
        rvehicles.append(
            Vehicle(
                v.plate,
                vehicle_key[v.plate],
                depot_place[v.depot_id],
                Window(wa, wb),
                v.capacity_kg,
                int(v.capacity_m3 * 1000),
                v.vehicle_class.tail_lift,
                break_window=bw,
                break_s=v.break_minutes * 60 if bw else 0,
            )
        )
    problem = Problem(
        tuple(places),
        tuple(rvehicles),
        tuple(stops),
        tuple(facilities),
        {k: tm.seconds for k, tm in matrices.items()},
        {k: tm.metres for k, tm in matrices.items()},
    )
    return _Built(problem, matrices, vehicle_key, place_ref, vehicles, stop_rows, pre)


def build_plan(
    session: Session,
    network: RoadNetwork,
    district_code: str,
    day: dt.date,
    *,
    limits: Limits | None = None,
    actor: str = "system",
    speeds_path: Path | None = None,
    rules_dir: Path | None = None,
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
    rights = session_rights(session, network, rules_dir)
    built = build_problem(session, network, district, day, speeds=speeds, rights=rights)
    if not built.vehicles:
        raise PlanningError(f"district {district.name_en} has no active vehicle")
    result = solve(built.problem, limits or Limits())
    plan = _store(session, built, result, district, day)
    plan.solver_stats = {
        **plan.solver_stats,
        "rules": len(rights.rules.rules),
        "rule_files": [Path(f).name for f in rights.rules.files if f != "osm"],
        "rule_warnings": list(rights.warnings)[:20],
    }
    replay(session, network, plan, rights, speeds=speeds)
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
            detail=json.loads(
                json.dumps(
                    {"district": district.code, "date": day.isoformat(), **plan.solver_stats}
                )
            ),
        )
    )
    session.flush()
    return plan


def replay(
    session: Session,
    network: RoadNetwork,
    plan: m.Plan,
    rights: RoadRights,
    *,
    speeds: dict[str, dict[str, float]] | None = None,
) -> None:
    """Export ``plan`` and replay it with the district's rules, leg timings recomputed
    with each van's class as the planner compiled it (``speeds``: the same overrides).

    Raises
    ------
    IllegalPlanError
        Listing every violation; the caller's transaction is then rolled back.
    """
    own = {r.vehicle.plate: class_spec(r.vehicle.vehicle_class, speeds) for r in plan.routes}

    def spec_of(veh: dict[str, Any]) -> ClassSpec:
        hit = own.get(veh["plate"])
        return hit if hit is not None else spec_from_vehicle(veh, speeds=speeds)[0]

    violations = check_plan(
        plan_json(session, plan),
        has_edge=network.graph.has_edge,
        rules=rights.rules,
        edges=rights.table,
        edge_seconds=edge_seconds(network, spec_of),
    )
    if violations:
        raise IllegalPlanError(violations)


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
            {
                "id": f.id,
                "open": [[w.start, w.end] for w in f.open],
                "accepts": sorted(f.accepts),
                "daily_intake_kg": f.daily_intake_kg,
            }
            for f in prob.facilities
        ],
    )
    session.add(plan)
    veh_by_plate = {v.plate: v for v in built.vehicles}
    stop_by_id = {s.id: s for s in prob.stops}
    served: set[str] = set()
    for r in result.routes:
        veh = veh_by_plate[r.vehicle_id]
        tm = built.matrices[built.vehicle_key[veh.plate]]
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
            elif vis.kind == "pickup":
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
                    # The exact edges: [u, v, osmnx key], and a key per pair of nodes
                    # (parallel edges join some node pairs).
                    "start_edge": [*leg.start_edge, leg.start_key],
                    "end_edge": [*leg.end_edge, leg.end_key],
                    "keys": leg.keys,
                }
            route.stops.append(stop)
            prev_place, prev_dep = vis.place, vis.departure
    unassigned = [(stop_by_id[u.stop_id], built.stop_rows[u.stop_id], u) for u in result.unassigned]
    for s, row, u in [*built.pre_unassigned, *unassigned]:
        plan.unassigned.append(
            m.UnassignedStop(
                kind=s.kind,
                reason=u.reason,
                detail=u.detail,
                booking_id=row.id if s.kind == "pickup" else None,
                collection_point_id=row.id if s.kind == "station" else None,
            )
        )
    plan.solver_stats = {**plan.solver_stats, "stops_unassigned": len(plan.unassigned)}
    for sid in served:
        row = built.stop_rows[sid]
        if isinstance(row, m.Booking) and row.status in ("requested", "queued"):
            set_status(session, row, "planned", actor="planner", note=f"plan {plan.id}")
    session.flush()
    return plan
