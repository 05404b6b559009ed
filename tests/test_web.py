"""The dispatcher web app: pages, API and static assets (Flask test client, real database)."""

from __future__ import annotations

import json
import re
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
    # Signing in starts a new session with a new token: the pages carry it in a meta tag.
    page = c.get("/", follow_redirects=True).get_data(as_text=True)
    fresh = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert fresh
    c.environ_base["HTTP_X_CSRF_TOKEN"] = fresh[1]
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


# --- the dispatcher's plan page ----------------------------------------------------------


def _page_data(html: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="plan-data">(.*?)</script>', html, re.S)
    assert m, "the page embeds its plan data"
    data: dict[str, Any] = json.loads(m[1])
    return data


def test_plan_page_has_figures_timeline_editor_and_actions(
    client: FlaskClient, demo_plan: dict[str, Any]
) -> None:
    """A draft's page: figures with load % and CO2, the timeline, the editor, approve enabled
    and publish not, and the plan for the scripts without road paths."""
    from dispatch.carbon import plan_balance
    from dispatch.db import make_engine, session_scope

    pid = _first_plan_id(demo_plan)
    plan = next(p for p in demo_plan["plans"] if p["plan"]["id"] == pid)
    html = client.get(f"/plans/{pid}").get_data(as_text=True)
    for fig in ("km", "hours", "vans", "load_pct", "co2_vans", "co2_avoided", "co2_net"):
        assert f'data-fig="{fig}"' in html
    settings = client.application.config["LOOPVAN_SETTINGS"]
    with session_scope(make_engine(settings.database_url)) as s:
        carbon = plan_balance(s, pid)
    assert f"<b>{round(carbon['vehicle_kg_co2e'])}</b><span>kg CO₂e vans" in html
    assert 'id="timeline"' in html and 'id="stop-lists"' in html
    assert 'id="move-bar"' in html and "Save as new version" in html
    assert '<meta name="csrf-token" content="' in html
    assert (
        re.search(r'id="approve-btn"[^>]*>', html)
        and "disabled" not in re.search(r'<button[^>]*id="approve-btn"[^>]*>', html)[0]
    )
    assert "disabled" in re.search(r'<button[^>]*id="publish-btn"[^>]*>', html)[0]
    assert "/static/plan-edit.js" in html and "/static/dispatcher.css" in html
    assert 'id="live"' not in html and "data-tile-url" not in html
    data = _page_data(html)
    assert data["editable"] is True and data["live"] is False
    assert [r["vehicle"] for r in data["routes"]] == [r["vehicle"] for r in plan["routes"]]
    assert all("leg" not in s for r in data["routes"] for s in r["stops"])
    first = plan["routes"][0]["stops"][1]
    assert data["routes"][0]["stops"][1]["travel_s"] == first["leg"]["duration_s"]
    assert {v["plate"] for v in data["vans"]} == {r["vehicle"] for r in plan["routes"]}
    assert all(v["kg_co2e_per_km"] and v["colour"].startswith("#") for v in data["vans"])


def test_tile_url_setting(demo_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """LOOPVAN_TILE_URL adds a tile layer under ours; without it, or malformed, there is none."""
    monkeypatch.setenv("LOOPVAN_TILE_URL", "https://tiles.example.cn/{z}/{x}/{y}.png")
    monkeypatch.setenv("LOOPVAN_TILE_ATTRIBUTION", "© 示例图源")
    app = create_app({"LOOPVAN_SETTINGS": demo_settings, "TESTING": True, "SECRET_KEY": "t"})
    c = signed_in(app.test_client(), demo_settings)
    html = c.get("/", follow_redirects=True).get_data(as_text=True)
    assert 'data-tile-url="https://tiles.example.cn/{z}/{x}/{y}.png"' in html
    assert 'data-tile-attribution="© 示例图源"' in html
    monkeypatch.setenv("LOOPVAN_TILE_URL", "javascript:alert(1)")
    assert "data-tile-url" not in c.get("/", follow_redirects=True).get_data(as_text=True)
    app.config["LOOPVAN_TILE_URL"] = "/tiles/{z}/{x}/{y}.png"  # config wins over the environment
    assert 'data-tile-url="/tiles/{z}/{x}/{y}.png"' in c.get("/", follow_redirects=True).get_data(
        as_text=True
    )


@pytest.fixture(scope="module")
def copy_client(
    demo_plan: dict[str, Any], demo_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> FlaskClient:
    """A signed-in client over a copy of the demo database (for tests that change plans)."""
    import dataclasses
    import sqlite3

    path = tmp_path_factory.mktemp("web-copy") / "copy.db"
    src = sqlite3.connect(demo_settings.database_url.split("///", 1)[1])
    dst = sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.close()
    settings = dataclasses.replace(demo_settings, database_url=f"sqlite:///{path}")
    app = create_app({"LOOPVAN_SETTINGS": settings, "TESTING": True, "SECRET_KEY": "copy"})
    return signed_in(app.test_client(), settings)


def test_a_published_plan_goes_live_and_a_replan_shows_its_difference(
    copy_client: FlaskClient,
) -> None:
    """Published: the page follows driver events and offers no editing. Re-planned after a
    breakdown: the new version's page shows what changed per van."""
    c = copy_client
    plans = c.get("/api/v1/plans").get_json()
    pid = next(p["id"] for p in plans if p["status"] == "draft")
    doc = c.get(f"/api/v1/plans/{pid}").get_json()
    assert c.post(f"/api/v1/plans/{pid}/approve").status_code == 200
    r = c.post(f"/api/v1/plans/{pid}/approve")
    assert r.status_code == 409 and "only a draft" in r.get_json()["message"]
    assert c.post(f"/api/v1/plans/{pid}/publish").status_code == 200

    html = c.get(f"/plans/{pid}").get_data(as_text=True)
    assert 'id="live"' in html and 'data-status="published"' in html
    assert 'id="move-bar"' not in html and "can no longer be edited" in html
    data = _page_data(html)
    assert data["live"] is True and data["editable"] is False
    live = c.get(f"/api/v1/plans/{pid}/live?once=1")
    assert live.mimetype == "text/event-stream"

    broken = doc["routes"][0]["vehicle"]
    r = c.post(
        f"/api/v1/plans/{pid}/replan",
        json={
            "reason": "van broke down on Shennan Blvd",
            "broken": broken,
            "at": f"{doc['plan']['date']}T11:00:00+08:00",
            "seconds": 1,
        },
    )
    assert r.status_code == 201, r.get_json()
    new_id = r.get_json()["plan_id"]
    html = c.get(f"/plans/{new_id}").get_data(as_text=True)
    assert 'id="replan-diff"' in html and "van broke down on Shennan Blvd" in html
    assert f'href="/plans/{pid}"' in html and "broken down: <b>" + broken in html
    diff = c.get(f"/api/v1/plans/{new_id}").get_json()["replan"]["diff"]
    changed = [v for v in diff["vehicles"] if v["changed"] or v["eta_shifts"]]
    assert changed
    for v in changed:
        assert f'class="diff-row" data-vehicle="{v["vehicle"]}"' in html
        for a in v["added"]:
            assert f"+ {a['stop']}" in html
        for x in v["removed"]:
            assert f"− {x}" in html
