"""Read services for the web app: plan lists, plan JSON, GeoJSON for the map.

The web layer calls these and holds no SQL of its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch import models as m
from dispatch.export import plan_json
from routing.network import RoadNetwork

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
