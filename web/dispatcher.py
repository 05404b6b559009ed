"""The dispatcher's pages: tomorrow's plans on a map with their routes."""

from __future__ import annotations

from typing import Any

import xstatic.pkg.leaflet as xleaflet
from flask import Blueprint, abort, redirect, render_template, send_from_directory, url_for

from dispatch import views
from web import state
from web.auth import require

bp = Blueprint("dispatcher", __name__)


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
    """One plan: figures, routes table, unassigned list, map."""
    with state.db() as s:
        doc = views.get_plan_json(s, plan_id)
        plans = views.list_plans(s)
    if doc is None:
        abort(404, description=f"no plan with id {plan_id}")
    return render_template("plan.html", doc=doc, summary=views.plan_summary(doc), plans=plans)


@bp.get("/vendor/leaflet/<path:filename>")
def leaflet(filename: str) -> Any:
    """Leaflet from the installed xstatic package: no CDN, the machine may be offline."""
    return send_from_directory(xleaflet.BASE_DIR, filename, max_age=86400)
