"""REST API v1 (read side for now): plans, plan JSON, GeoJSON for the map."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, jsonify

from dispatch import rights, views
from web import state

bp = Blueprint("api", __name__)


def _plan_doc(plan_id: int) -> dict[str, Any]:
    """Plan JSON of ``plan_id``, or a JSON 404 naming it."""
    with state.db() as s:
        doc = views.get_plan_json(s, plan_id)
    if doc is None:
        abort(404, description=f"no plan with id {plan_id}")
    return doc


@bp.get("/plans")
def plans() -> Any:
    """Every plan with its headline figures."""
    with state.db() as s:
        return jsonify(views.list_plans(s))


@bp.get("/plans/<int:plan_id>")
def plan(plan_id: int) -> Any:
    """One plan as plan JSON."""
    doc = _plan_doc(plan_id)
    return jsonify(doc)


@bp.get("/plans/<int:plan_id>/geojson")
def plan_geojson(plan_id: int) -> Any:
    """Routes and stops of one plan as GeoJSON."""
    doc = _plan_doc(plan_id)
    return jsonify(views.plan_geojson(doc, state.network()))


@bp.get("/plans/<int:plan_id>/rules.geojson")
def plan_rules(plan_id: int) -> Any:
    """The road rights of the plan's district: zones and restricted roads with their hours."""
    doc = _plan_doc(plan_id)
    code = doc["plan"]["district"]["code"]
    c = state.cache()
    key = f"rules:{code}"
    if key not in c:
        c[key] = rights.district_rules_geojson(
            current_app.config["LOOPVAN_SETTINGS"], state.network(), code
        )
    return jsonify(c[key])


@bp.get("/network.geojson")
def network_geojson() -> Any:
    """The road graph as the map's offline base layer."""
    c = state.cache()
    if "network" not in c:
        c["network"] = jsonify(views.network_geojson(state.network())).get_data()
    return c["network"], 200, {"Content-Type": "application/json", "Cache-Control": "max-age=3600"}
