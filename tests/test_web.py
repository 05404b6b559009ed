"""The dispatcher web app: pages, API and static assets (Flask test client, real database)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from dispatch.settings import Settings
from web import create_app


@pytest.fixture(scope="module")
def client(demo_plan: dict[str, Any], demo_settings: Settings) -> FlaskClient:
    """A test client over the demo database."""
    app = create_app({"LOOPVAN_SETTINGS": demo_settings, "TESTING": True, "SECRET_KEY": "t"})
    return signed_in(app.test_client(), demo_settings)


def signed_in(c: FlaskClient, settings: Settings) -> FlaskClient:
    """Sign ``c`` in as a dispatcher (made when missing); sends the CSRF header from then on."""
    import re

    from sqlalchemy import select

    from dispatch import accounts
    from dispatch import models as m
    from dispatch.db import make_engine, session_scope

    with session_scope(make_engine(settings.database_url)) as s:
        if s.scalar(select(m.User).where(m.User.username == "ann")) is None:
            accounts.create_user(s, "ann", "correct-horse-1", "dispatcher")
    page = c.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    r = c.post(
        "/login", data={"username": "ann", "password": "correct-horse-1", "csrf_token": token[1]}
    )
    assert r.status_code == 302
    c.environ_base["HTTP_X_CSRF_TOKEN"] = token[1]
    return c


def _first_plan_id(doc: dict[str, Any]) -> int:
    return int((doc.get("plans", [doc]))[0]["plan"]["id"])


def test_index_redirects_to_a_live_plan(client: FlaskClient) -> None:
    """The first page leads to a plan of the latest date."""
    r = client.get("/")
    assert r.status_code == 302 and "/plans/" in r.headers["Location"]


def test_plan_page_lists_routes_and_has_a_map(
    client: FlaskClient, demo_plan: dict[str, Any]
) -> None:
    """The plan page has one table row per route, the map element and Leaflet from the app itself."""
    pid = _first_plan_id(demo_plan)
    plan = next(p for p in demo_plan["plans"] if p["plan"]["id"] == pid)
    html = client.get(f"/plans/{pid}").get_data(as_text=True)
    assert html.count('class="route-row"') == len(plan["routes"])
    for r in plan["routes"]:
        assert r["vehicle"] in html
    assert 'id="map"' in html
    assert "/vendor/leaflet/leaflet.js" in html
    assert "unpkg" not in html and "cdn" not in html.lower()


def test_leaflet_is_served_locally(client: FlaskClient) -> None:
    """Leaflet's script and stylesheet come from the installed xstatic package."""
    js = client.get("/vendor/leaflet/leaflet.js")
    assert js.status_code == 200 and b"Leaflet" in js.data[:2000]
    assert client.get("/vendor/leaflet/leaflet.css").status_code == 200


def test_plan_geojson_has_a_line_per_route(client: FlaskClient, demo_plan: dict[str, Any]) -> None:
    """The map's GeoJSON holds a road-following line per route and a point per stop."""
    pid = _first_plan_id(demo_plan)
    plan = next(p for p in demo_plan["plans"] if p["plan"]["id"] == pid)
    gj = client.get(f"/api/v1/plans/{pid}/geojson").get_json()
    lines = [f for f in gj["features"] if f["geometry"]["type"] == "LineString"]
    points = [f for f in gj["features"] if f["geometry"]["type"] == "Point"]
    assert len(lines) == len(plan["routes"])
    assert len(points) == sum(len(r["stops"]) for r in plan["routes"])
    # Road-following: far more vertices than stops.
    assert sum(len(f["geometry"]["coordinates"]) for f in lines) > 3 * len(points)


def test_api_plan_is_plan_json(client: FlaskClient, demo_plan: dict[str, Any]) -> None:
    """GET /api/v1/plans/ID returns the same plan JSON as the export."""
    pid = _first_plan_id(demo_plan)
    doc = client.get(f"/api/v1/plans/{pid}").get_json()
    assert doc["format"] == "loopvan-plan/1" and doc["plan"]["id"] == pid


def test_unknown_plan_is_a_json_404(client: FlaskClient) -> None:
    """An unknown plan id gives a JSON 404 naming it, not an HTML error page."""
    r = client.get("/api/v1/plans/999999")
    assert r.status_code == 404
    assert "999999" in r.get_json()["message"]


def test_network_base_layer(client: FlaskClient) -> None:
    """The offline base layer is the road graph as GeoJSON lines."""
    gj = client.get("/api/v1/network.geojson").get_json()
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) > 5000
