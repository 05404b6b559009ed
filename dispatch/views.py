"""Read services for the web app: plan lists, plan JSON, GeoJSON for the map.

The web layer calls these and holds no SQL of its own.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch import models as m
from dispatch.export import plan_json
from routing.network import RoadNetwork
from routing.streets import StreetIndex

#: Colour per route (dispatchers tell vans apart by colour).
PALETTE = [
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#42d4f4",
    "#f032e6",
    "#9a6324",
    "#800000",
    "#469990",
    "#000075",
    "#808000",
    "#bfef45",
    "#fabed4",
]


def list_plans(session: Session) -> list[dict[str, Any]]:
    """Every plan, newest first, with its headline figures."""
    out = []
    for p in session.scalars(select(m.Plan).order_by(m.Plan.date.desc(), m.Plan.id.desc())):
        st = p.solver_stats or {}
        out.append(
            {
                "id": p.id,
                "date": p.date.isoformat(),
                "status": p.status,
                "district": p.district.name_en,
                "district_code": p.district.code,
                "district_zh": p.district.name_zh,
                "routes": len(p.routes),
                "unassigned": len(p.unassigned),
                "served": st.get("stops_served", 0),
                "km": round(st.get("distance_m", 0) / 1000, 1),
            }
        )
    return out


def latest_plan_ids(session: Session) -> list[int]:
    """The newest live (not superseded) plan of each district for the latest planned date."""
    latest = session.scalar(select(func.max(m.Plan.date)))
    if latest is None:
        return []
    plans = session.scalars(
        select(m.Plan)
        .where(m.Plan.date == latest, m.Plan.status != "superseded")
        .order_by(m.Plan.district_id, m.Plan.id.desc())
    )
    seen: dict[int, int] = {}
    for p in plans:
        seen.setdefault(p.district_id, p.id)
    return list(seen.values())


def get_plan_json(session: Session, plan_id: int) -> dict[str, Any] | None:
    """Plan JSON of one plan, or None."""
    plan = session.get(m.Plan, plan_id)
    return plan_json(session, plan) if plan is not None else None


def plan_summary(doc: dict[str, Any]) -> dict[str, Any]:
    """Per-route and whole-plan figures for the dispatcher."""
    caps = {v["plate"]: v for v in doc["vehicles"]}
    routes = []
    for i, r in enumerate(doc["routes"]):
        v = caps[r["vehicle"]]
        work = [s for s in r["stops"] if s["kind"] in ("pickup", "station")]
        peak = max((s["load_after"]["kg"] for s in r["stops"]), default=0)
        routes.append(
            {
                "vehicle": r["vehicle"],
                "class": v["class"],
                "colour": PALETTE[i % len(PALETTE)],
                "pickups": sum(1 for s in work if s["kind"] == "pickup"),
                "stations": sum(1 for s in work if s["kind"] == "station"),
                "unloads": sum(1 for s in r["stops"] if s["kind"] == "unload"),
                "km": round(r["distance_m"] / 1000, 1),
                "hours": round(r["duration_s"] / 3600, 1),
                "start": r["stops"][0]["departure"][11:16],
                "end": r["stops"][-1]["arrival"][11:16],
                "peak_load_pct": round(100 * peak / v["capacity_kg"]) if v["capacity_kg"] else 0,
            }
        )
    return {
        "routes": routes,
        "km": round(sum(r["km"] for r in routes), 1),
        "hours": round(sum(r["hours"] for r in routes), 1),
        "vans": len(routes),
        "stops": sum(r["pickups"] + r["stations"] for r in routes),
        "unassigned": len(doc["unassigned"]),
    }


def plan_geojson(doc: dict[str, Any], network: RoadNetwork) -> dict[str, Any]:
    """Routes as road-following lines and stops as points, for Leaflet."""
    g = network.graph
    feats: list[dict[str, Any]] = []
    for i, r in enumerate(doc["routes"]):
        colour = PALETTE[i % len(PALETTE)]
        coords: list[list[float]] = []
        for s in r["stops"]:
            leg = s.get("leg")
            if leg:
                coords += [[g.nodes[n]["x"], g.nodes[n]["y"]] for n in leg["nodes"] if n in g]
            coords.append([s["lon"], s["lat"]])
            feats.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]},
                    "properties": {
                        "vehicle": r["vehicle"],
                        "colour": colour,
                        "seq": s["seq"],
                        "kind": s["kind"],
                        "id": s["id"],
                        "name": s["name"],
                        "arrival": s["arrival"][11:16],
                        "start": s["start"][11:16],
                        "departure": s["departure"][11:16],
                        "load_kg": s["load_after"]["kg"],
                        "materials": s.get("materials", []),
                    },
                }
            )
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": coords},
                "properties": {"vehicle": r["vehicle"], "colour": colour, "kind": "route"},
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def network_geojson(network: RoadNetwork) -> dict[str, Any]:
    """The road graph as lines: the offline base layer of the map (one line per road pair)."""
    g = network.graph
    feats = []
    seen: set[tuple[int, int]] = set()
    major = {"motorway", "trunk", "primary", "secondary"}
    for u, v, d in g.edges(data=True):
        if (v, u) in seen:
            continue
        seen.add((u, v))
        geom = d.get("geometry")
        coords = (
            [[round(x, 5), round(y, 5)] for x, y in geom.coords]
            if geom is not None
            else [
                [round(g.nodes[u]["x"], 5), round(g.nodes[u]["y"], 5)],
                [round(g.nodes[v]["x"], 5), round(g.nodes[v]["y"], 5)],
            ]
        )
        hw = d.get("highway")
        hw = hw[0] if isinstance(hw, list) else hw
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": coords},
                "properties": {"major": hw in major or str(hw).endswith("_link")},
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def booking_doc(session: Session, b: m.Booking, *, with_history: bool = True) -> dict[str, Any]:
    """A booking as the API shows it (to its resident and to dispatchers)."""
    from dispatch.booking import history

    doc: dict[str, Any] = {
        "reference": b.reference,
        "status": b.status,
        "date": b.date.isoformat(),
        "window": {"start": f"{b.window_start:%H:%M}", "end": f"{b.window_end:%H:%M}"},
        "address": b.address,
        "district": b.district.code,
        "district_name": b.district.name_zh,
        "lat": b.lat,
        "lon": b.lon,
        "materials": b.materials,
        "est_kg": b.est_kg,
        "priority": b.priority,
    }
    if with_history:
        doc["history"] = history(session, b.reference)
    return doc


def booking_queue(
    session: Session, day: dt.date | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """Bookings for dispatchers, newest first (a day and a status narrow it)."""
    q = select(m.Booking).order_by(m.Booking.date, m.Booking.priority.desc(), m.Booking.id)
    if day is not None:
        q = q.where(m.Booking.date == day)
    if status is not None:
        q = q.where(m.Booking.status == status)
    out = []
    for b in session.scalars(q.limit(2000)):
        d = booking_doc(session, b, with_history=False)
        d["resident_name"] = b.resident_name
        d["resident_phone"] = b.resident_phone
        out.append(d)
    return out


def _current_version(session: Session, vehicle_id: int) -> Any:
    return session.execute(
        select(m.RouteVersion, m.Route)
        .join(m.Route, m.RouteVersion.route_id == m.Route.id)
        .join(m.Plan, m.Route.plan_id == m.Plan.id)
        .where(
            m.Route.vehicle_id == vehicle_id,
            m.Plan.status.in_(("published", "in_progress", "completed")),
        )
        .order_by(m.Plan.date.desc(), m.RouteVersion.version.desc())
        .limit(1)
    ).first()


def driver_route_etag(session: Session, vehicle_id: int | None) -> str | None:
    """The ETag of the van's current route document (route version and events so far),
    from two small queries: a tablet polling an unchanged route costs almost nothing."""
    if vehicle_id is None:
        return None
    row = _current_version(session, vehicle_id)
    if row is None:
        return None
    rv, route = row
    return _etag(session, rv, route)


def _etag(session: Session, rv: m.RouteVersion, route: m.Route) -> str:
    n = session.scalar(
        select(func.count(m.StopEvent.id))
        .join(m.Stop, m.StopEvent.stop_id == m.Stop.id)
        .where(m.Stop.route_id == route.id)
    )
    return f'"rv{rv.id}-e{n or 0}"'


def driver_route(session: Session, driver: m.Driver) -> dict[str, Any] | None:
    """The driver's current route version (the latest published for the latest day), its
    ETAs from the events so far, what the previous version had, and an ETag."""
    from dispatch.execution import route_etas

    if driver.vehicle_id is None:
        return None
    row = _current_version(session, driver.vehicle_id)
    if row is None:
        return None
    rv, route = row
    etas = {e["stop_id"]: e for e in route_etas(session, route)}
    payload = dict(rv.payload)
    stops = []
    for st in payload["route"]["stops"]:
        e = etas.get(st.get("stop_id") or -1) or {}
        light = {k: v for k, v in st.items() if k != "leg"}  # the tablet needs no road path
        stops.append({**light, "eta": e.get("eta_arrival_s"), "delay_s": e.get("delay_s", 0),
                      "reported": e.get("reported", [])})  # fmt: skip
    payload["route"] = {**payload["route"], "stops": stops}
    prev = session.scalar(
        select(m.RouteVersion)
        .join(m.Route, m.RouteVersion.route_id == m.Route.id)
        .join(m.Plan, m.Route.plan_id == m.Plan.id)
        .where(
            m.Route.vehicle_id == driver.vehicle_id,
            m.Plan.date == route.plan.date,
            m.RouteVersion.version < rv.version,
        )
        .order_by(m.RouteVersion.version.desc())
        .limit(1)
    )
    changes = None
    if prev is not None:

        def refs(p: dict[str, Any]) -> list[str]:
            return [s["id"] for s in p["route"]["stops"] if s.get("kind") in ("pickup", "station")]

        old, new = refs(prev.payload), refs(rv.payload)
        changes = {
            "from_version": prev.version,
            "added": [x for x in new if x not in old],
            "removed": [x for x in old if x not in new],
            "order_changed": [x for x in old if x in new] != [x for x in new if x in old],
        }
    return {
        "version": rv.version,
        "published_at": m.as_utc(rv.published_at),
        "plan_status": route.plan.status,
        "route": payload,
        "changes": changes,
        "etag": _etag(session, rv, route),
    }


def street_search(
    session: Session,
    index: StreetIndex,
    query: str,
    limit: int,
    districts: dict[str, dict[str, str] | None] | None = None,
) -> list[dict[str, Any]]:
    """Streets matching ``query`` (best first; those in a served district before the
    rest), each with a point on it, its extent and the served district it lies in.

    ``districts`` memoises street name -> district across calls (the app keeps one), so a
    keystroke costs no database query once a street has been seen.
    """
    from dispatch.booking import _served_district

    memo = {} if districts is None else districts
    out = []
    for st in index.search(query, limit=limit * 2):
        if st.name not in memo:
            d = _served_district(session, st.lon, st.lat)
            memo[st.name] = (
                {"code": d.code, "name_zh": d.name_zh, "name_en": d.name_en} if d else None
            )
        out.append(
            {
                "name": st.name,
                "name_en": st.name_en,
                "lon": st.lon,
                "lat": st.lat,
                "bbox": list(st.bbox),
                "length_m": st.length_m,
                "district": memo[st.name],
            }
        )
    out.sort(key=lambda x: x["district"] is None)  # stable: rank order kept within each
    return out[:limit]


#: Plans whose stops say where a booking stands (not superseded, rejected or cancelled).
_PLACING = ("draft", "approved", "published", "in_progress", "completed")


def queue_page(session: Session, day: dt.date | None, status: str | None) -> dict[str, Any]:
    """The dispatcher's booking queue: the bookings of ``day`` (every day when None), each
    with the plan, van and planned time it is on; counts per status; the days on file."""
    rows = booking_queue(session, day, status)
    refs = [r["reference"] for r in rows]
    placed: dict[str, dict[str, Any]] = {}
    if refs:
        q = (
            select(m.Booking.reference, m.Plan.id, m.Plan.status, m.Vehicle.plate, m.Stop.start_s)
            .join(m.Stop, m.Stop.booking_id == m.Booking.id)
            .join(m.Route, m.Stop.route_id == m.Route.id)
            .join(m.Plan, m.Route.plan_id == m.Plan.id)
            .join(m.Vehicle, m.Route.vehicle_id == m.Vehicle.id)
            .where(m.Booking.reference.in_(refs), m.Plan.status.in_(_PLACING))
            .order_by(m.Plan.id)
        )
        for ref, pid, pstatus, plate, start_s in session.execute(q):
            placed[ref] = {  # the newest plan wins
                "plan": pid,
                "plan_status": pstatus,
                "vehicle": plate,
                "at": f"{start_s // 3600:02d}:{start_s % 3600 // 60:02d}",
            }
    for r in rows:
        r["placed"] = placed.get(r["reference"])
    counts_q = select(m.Booking.status, func.count()).group_by(m.Booking.status)
    if day is not None:
        counts_q = counts_q.where(m.Booking.date == day)
    counts = dict(session.execute(counts_q).tuples().all())
    return {"bookings": rows, "counts": counts, "days": booking_days(session)}


def booking_days(session: Session, limit: int = 60) -> list[str]:
    """The days with bookings, newest first (ISO dates)."""
    q = select(m.Booking.date).distinct().order_by(m.Booking.date.desc()).limit(limit)
    return [d.isoformat() for d in session.scalars(q)]
