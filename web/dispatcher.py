"""The dispatcher's pages: a plan on a map with its routes, figures, timeline per van, the
editor (move a stop, checked at once), approval and publishing, and live progress."""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

import xstatic.pkg.leaflet as xleaflet
from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)

from dispatch import views
from dispatch.booking import STATUSES
from dispatch.carbon import CarbonFactorError, load_factors, plan_balance
from dispatch.materials import MATERIAL_NAMES, MATERIALS, TAIL_LIFT_MATERIALS
from web import state
from web.auth import require

bp = Blueprint("dispatcher", __name__)
log = logging.getLogger(__name__)

#: Statuses in which a plan may still be edited (dispatch.editing.EDITABLE).
EDITABLE = ("draft", "approved")
#: Statuses in which drivers report events: the page follows them live.
LIVE = ("published", "in_progress", "completed")
#: Stop kinds a dispatcher moves; depot, unload and break stops are placed by the re-timer.
MOVABLE = ("pickup", "station")


def tile_layer() -> dict[str, str] | None:
    """The optional raster tile layer drawn under our own vector layers.

    ``LOOPVAN_TILE_URL`` (app config, else the environment) is a Leaflet URL template
    such as ``https://tiles.example.cn/{z}/{x}/{y}.png`` or a path served by this host
    (``/tiles/{z}/{x}/{y}.png``); ``LOOPVAN_TILE_ATTRIBUTION`` is shown with it. Unset —
    the default — the map uses only the offline base layer drawn from our road graph.
    """
    url = str(
        current_app.config.get("LOOPVAN_TILE_URL") or os.environ.get("LOOPVAN_TILE_URL", "")
    ).strip()
    if not url:
        return None
    if not url.startswith(("http://", "https://", "/")) or not all(
        k in url for k in ("{z}", "{x}", "{y}")
    ):
        log.warning("LOOPVAN_TILE_URL %r is not a {z}/{x}/{y} URL template: ignored", url)
        return None
    attribution = str(
        current_app.config.get("LOOPVAN_TILE_ATTRIBUTION")
        or os.environ.get("LOOPVAN_TILE_ATTRIBUTION", "")
    )
    return {"url": url, "attribution": attribution}


def figures(summary: dict[str, Any], carbon: dict[str, Any] | None) -> dict[str, Any]:
    """The plan's headline figures: size, distance, time, load and CO2."""
    routes = summary["routes"]
    out: dict[str, Any] = {
        "vans": summary["vans"],
        "stops": summary["stops"],
        "unassigned": summary["unassigned"],
        "km": summary["km"],
        "hours": summary["hours"],
        "load_pct": round(sum(r["peak_load_pct"] for r in routes) / len(routes)) if routes else 0,
        "co2_vans": None,
        "co2_avoided": None,
        "co2_net": None,
        "co2_basis": None,
    }
    if carbon is not None:
        out.update(
            co2_vans=round(carbon["vehicle_kg_co2e"]),
            co2_avoided=round(carbon["avoided_kg_co2e"]),
            co2_net=round(carbon["net_kg_co2e"]),
            co2_basis=carbon.get("basis"),
        )
    return out


def page_data(doc: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """What the page's scripts need: the plan JSON without road paths (a leg keeps its
    travel time), van colours and CO2 per km, and what may be done with the plan."""
    colours = {r["vehicle"]: r["colour"] for r in summary["routes"]}
    try:
        factors: Any = load_factors()
    except (OSError, CarbonFactorError) as exc:  # figures go without CO2, the page still works
        log.warning("carbon factors: %s", exc)
        factors = None
    vans = []
    for v in doc["vehicles"]:
        per_km = None
        if factors is not None:
            try:
                per_km = factors.per_km(v["fuel"], v["weight_class"])
            except CarbonFactorError:
                per_km = None
        vans.append(
            {
                "plate": v["plate"],
                "class": v["class"],
                "colour": colours.get(v["plate"], "#555"),
                "tail_lift": v["tail_lift"],
                "capacity_kg": v["capacity_kg"],
                "shift": v["shift"],
                "kg_co2e_per_km": per_km,
            }
        )
    routes = []
    for r in doc["routes"]:
        stops = []
        for s in r["stops"]:
            light = {k: v for k, v in s.items() if k != "leg"}
            light["travel_s"] = (s.get("leg") or {}).get("duration_s", 0)
            light["tail_lift"] = bool(set(s.get("materials", [])) & TAIL_LIFT_MATERIALS) and (
                s["kind"] == "pickup"
            )
            stops.append(light)
        routes.append({k: v for k, v in r.items() if k != "stops"} | {"stops": stops})
    status = doc["plan"]["status"]
    return {
        "plan": {k: doc["plan"][k] for k in ("id", "date", "status", "version")},
        "editable": status in EDITABLE,
        "live": status in LIVE,
        "movable": list(MOVABLE),
        "vans": vans,
        "routes": routes,
        "unassigned": doc["unassigned"],
    }


def replan_view(doc: dict[str, Any]) -> dict[str, Any] | None:
    """A re-planned version's record and its difference from the plan it replaces (only
    the vans that changed), or None for a plan made otherwise."""
    solver = doc["plan"].get("solver") or {}
    if "replan" not in solver or "diff" not in solver:
        return None
    diff = solver["diff"]
    return {
        "replan": solver["replan"],
        "vehicles": [
            v for v in diff.get("vehicles", []) if v.get("changed") or v.get("eta_shifts")
        ],
        "unchanged": [v["vehicle"] for v in diff.get("vehicles", []) if not v.get("changed")],
        "newly_unassigned": diff.get("newly_unassigned", []),
        "newly_served": diff.get("newly_served", []),
    }


@bp.get("/")
@require("staff")
def index() -> Any:
    """The latest plan of the first district, or an empty page when nothing is planned."""
    with state.db() as s:
        ids = views.latest_plan_ids(s)
        plans = views.list_plans(s)
    if not ids:
        return render_template("index.html", plans=plans)
    return redirect(url_for("dispatcher.plan", plan_id=ids[0]))


@bp.get("/plans/<int:plan_id>")
@require("staff")
def plan(plan_id: int) -> Any:
    """One plan: figures, actions, editor, timeline, routes, unassigned, map, live."""
    with state.db() as s:
        doc = views.get_plan_json(s, plan_id)
        plans = views.list_plans(s)
        carbon = None
        if doc is not None:
            try:
                carbon = plan_balance(s, plan_id)
            except (OSError, CarbonFactorError) as exc:
                log.warning("plan %s: no carbon balance: %s", plan_id, exc)
    if doc is None:
        abort(404, description=f"no plan with id {plan_id}")
    summary = views.plan_summary(doc)
    here = doc["plan"]
    pending = [  # newer drafts of the same day (a re-plan or an edit awaiting approval)
        p
        for p in plans
        if p["date"] == here["date"] and p["district_code"] == here["district"]["code"]
        and p["status"] in EDITABLE and p["id"] > plan_id
    ]  # fmt: skip
    return render_template(
        "plan.html",
        doc=doc,
        summary=summary,
        plans=plans,
        figures=figures(summary, carbon),
        data=page_data(doc, summary),
        replan=replan_view(doc),
        tiles=tile_layer(),
        editable=doc["plan"]["status"] in EDITABLE,
        live=doc["plan"]["status"] in LIVE,
        replannable=doc["plan"]["status"] in ("published", "in_progress"),
        pending=pending,
    )


@bp.get("/bookings")
@require("staff")
def bookings() -> Any:
    """The booking queue: a day's bookings (``?date=YYYY-MM-DD`` or ``all``, default the
    next day on file from today) by status, with where each is planned; an urgent booking
    for today."""
    today = state.now().date()
    raw_date = request.args.get("date", "")
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        abort(400, description=f"status: must be one of {', '.join(STATUSES)}, got {status!r}")
    with state.db() as s:
        day: dt.date | None
        if raw_date == "all":
            day = None
        elif raw_date:
            try:
                day = dt.date.fromisoformat(raw_date)
            except ValueError:
                abort(400, description=f"date: must be YYYY-MM-DD or 'all', got {raw_date!r}")
        else:
            on_file = views.booking_days(s)
            upcoming = sorted(d for d in on_file if d >= today.isoformat())
            day = (
                dt.date.fromisoformat(upcoming[0] if upcoming else on_file[0]) if on_file else today
            )
        page = views.queue_page(s, day, status)
        plans = views.list_plans(s)
    live_today = {  # district code -> today's live plan, where an urgent booking is re-planned
        p["district_code"]: p["id"]
        for p in reversed(plans)
        if p["date"] == today.isoformat() and p["status"] in ("published", "in_progress")
    }
    return render_template(
        "bookings.html",
        page=page,
        plans=plans,
        day=day.isoformat() if day else "all",
        status=status or "",
        statuses=STATUSES,
        today=today.isoformat(),
        materials=[(c, MATERIAL_NAMES[c]) for c in MATERIALS],
        live_today=live_today,
    )


@bp.get("/vendor/leaflet/<path:filename>")
def leaflet(filename: str) -> Any:
    """Leaflet from the installed xstatic package: no CDN, the machine may be offline."""
    return send_from_directory(xleaflet.BASE_DIR, filename, max_age=86400)
