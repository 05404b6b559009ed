"""Every API endpoint × every role: who may call what (Flask test client, real database).

The expectation table :data:`ENDPOINTS` names every rule of ``app.url_map`` under
``/api/v1``; a new endpoint fails :func:`test_every_api_endpoint_is_in_the_table` until
it is added with its audience, so no endpoint ships without an access test.

Roles: ``anonymous``; a resident sending the phone of their own booking
(``resident_own``) or another number (``resident_wrong``); driver A's device token;
a signed-in dispatcher (session cookie and ``X-CSRF-Token``). "Allowed" means the
request passed the access check (not 401/403, and never a 5xx); a refusal is the exact
status the audience gives that role.

The tests write (bookings, events, plan state), so they run on a copy of the shared demo
database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from dispatch import accounts, approval
from dispatch import models as m
from dispatch.db import make_engine, session_scope
from dispatch.settings import TIMEZONE, Settings
from web import create_app

ROLES = ("anonymous", "resident_own", "resident_wrong", "driver", "dispatcher")

RESIDENT_PHONE = "13800138000"
OTHER_PHONE = "13900139000"
STAFF_USER, STAFF_PASSWORD = "role-test-dispatcher", "correct-horse-battery-1"

# Audiences, and what each role gets from them: ``None`` = allowed, else the refusal.
PUBLIC, RESIDENT, STAFF, DRIVER = "public", "resident-or-staff", "staff", "driver"
REFUSAL: dict[str, dict[str, int | None]] = {
    PUBLIC: dict.fromkeys(ROLES),
    RESIDENT: {
        "anonymous": 401,  # no phone sent
        "resident_own": None,
        "resident_wrong": 404,  # the same answer as an unknown reference: nothing to probe
        "driver": 401,  # a device token proves no booking
        "dispatcher": None,
    },
    STAFF: {
        "anonymous": 401,
        "resident_own": 401,
        "resident_wrong": 401,
        "driver": 403,
        "dispatcher": None,
    },
    DRIVER: {
        "anonymous": 401,
        "resident_own": 401,
        "resident_wrong": 401,
        "driver": None,
        "dispatcher": 403,
    },
}


@dataclasses.dataclass
class World:
    """The app over a private database copy, and what the requests refer to."""

    app: Flask
    engine: Engine
    day: dt.date
    live_plan: int  # published: drivers A and B have routes on it
    spare_plan: int  # the other district's plan: approved, published, rejected by the tests
    job_id: int
    driver_a: str
    driver_b: str
    token_a: str
    token_b: str
    stops_a: list[int]
    stops_b: list[int]
    booking: str  # made with RESIDENT_PHONE
    clients: dict[str, FlaskClient] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: Any = None
    ok: frozenset[int] = frozenset({200})  # statuses of an allowed call


@dataclasses.dataclass(frozen=True)
class Endpoint:
    audience: str
    call: Callable[[World], Call]
    spare_plan_status: str | None = None  # set-up: the state the action needs


# --- helpers -------------------------------------------------------------------------


def _tomorrow() -> dt.date:
    return dt.datetime.now(ZoneInfo(TIMEZONE)).date() + dt.timedelta(days=1)


def booking_body(phone: str = RESIDENT_PHONE) -> dict[str, Any]:
    """A valid resident booking in Futian for tomorrow."""
    return {
        "resident": {"name": "王伟", "phone": phone},
        "address": "福田区 景田 1 栋",
        "lat": 22.5405,
        "lon": 114.0560,
        "materials": [{"material": "paper", "kg": 12}],
        "date": _tomorrow().isoformat(),
        "window": {"start": "09:00", "end": "11:00"},
        "idempotency_key": f"roles-{uuid.uuid4().hex}",
    }


def new_booking(w: World, phone: str = RESIDENT_PHONE) -> str:
    r = w.app.test_client().post("/api/v1/bookings", json=booking_body(phone))
    assert r.status_code == 201, r.get_json()
    return str(r.get_json()["reference"])


def set_status(w: World, plan_id: int, status: str) -> None:
    """Test set-up only: put a plan in the state an action needs."""
    with session_scope(w.engine) as s:
        s.get_one(m.Plan, plan_id).status = status


def plan_status(w: World, plan_id: int) -> str:
    with session_scope(w.engine) as s:
        return s.get_one(m.Plan, plan_id).status


def event(stop_id: int, kind: str = "arrived") -> dict[str, Any]:
    return {
        "event_id": f"ev-{uuid.uuid4().hex}",
        "kind": kind,
        "stop_id": stop_id,
        "recorded_at": "2026-12-01T09:30:00+08:00",
    }


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the login page carries the CSRF token"
    return found[1]


def sign_in(c: FlaskClient, *, send_csrf_header: bool = True) -> str:
    """Sign ``c`` in as the test dispatcher; return the session's CSRF token (the token is
    renewed at sign-in, so it is read again from a page afterwards)."""
    r = c.post(
        "/login",
        data={
            "username": STAFF_USER,
            "password": STAFF_PASSWORD,
            "csrf_token": _csrf(c.get("/login").get_data(as_text=True)),
        },
    )
    assert r.status_code == 302, r.status_code
    token = _csrf(c.get("/login").get_data(as_text=True))
    if send_csrf_header:
        c.environ_base["HTTP_X_CSRF_TOKEN"] = token
    return token


def copy_sqlite(url: str, to: Path) -> str:
    """A consistent copy of a SQLite database (the backup API includes the WAL)."""
    assert url.startswith("sqlite:///"), "the demo fixture uses SQLite"
    src = sqlite3.connect(url.removeprefix("sqlite:///"))
    dst = sqlite3.connect(to)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{to}"


# --- the expectation table: every /api/v1 rule of the url map --------------------------

ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    # public
    ("POST", "/api/v1/bookings"): Endpoint(
        PUBLIC, lambda w: Call("POST", "/api/v1/bookings", booking_body(), frozenset({201}))
    ),
    ("POST", "/api/v1/bookings/slots"): Endpoint(
        PUBLIC,
        lambda w: Call(
            "POST",
            "/api/v1/bookings/slots",
            {"lat": 22.5405, "lon": 114.0560, "materials": [{"material": "paper", "kg": 8}]},
        ),
    ),
    ("GET", "/api/v1/network.geojson"): Endpoint(
        PUBLIC, lambda w: Call("GET", "/api/v1/network.geojson")
    ),
    ("GET", "/api/v1/streets"): Endpoint(
        PUBLIC, lambda w: Call("GET", "/api/v1/streets?q=%E7%A6%8F%E5%8D%8E")
    ),
    ("GET", "/api/v1/openapi.json"): Endpoint(
        PUBLIC, lambda w: Call("GET", "/api/v1/openapi.json")
    ),
    ("GET", "/api/v1/docs"): Endpoint(PUBLIC, lambda w: Call("GET", "/api/v1/docs")),
    ("GET", "/api/v1/docs/assets/<path:filename>"): Endpoint(
        PUBLIC, lambda w: Call("GET", "/api/v1/docs/assets/swagger-ui.css")
    ),
    # a booking's resident (reference + phone) or staff
    ("GET", "/api/v1/bookings/<string:reference>"): Endpoint(
        RESIDENT, lambda w: Call("GET", f"/api/v1/bookings/{w.booking}")
    ),
    ("POST", "/api/v1/bookings/<string:reference>/cancel"): Endpoint(
        RESIDENT,
        lambda w: Call(
            "POST", f"/api/v1/bookings/{new_booking(w)}/cancel", {"reason": "no longer needed"}
        ),
    ),
    # staff
    ("GET", "/api/v1/bookings"): Endpoint(STAFF, lambda w: Call("GET", "/api/v1/bookings")),
    ("GET", "/api/v1/plans"): Endpoint(STAFF, lambda w: Call("GET", "/api/v1/plans")),
    ("POST", "/api/v1/plans"): Endpoint(
        STAFF,
        # An unknown district is refused after the access check: no solve is started.
        lambda w: Call(
            "POST",
            "/api/v1/plans",
            {"district": ["000000"], "date": w.day.isoformat()},
            frozenset({422}),
        ),
    ),
    ("GET", "/api/v1/plan-jobs/<int:job_id>"): Endpoint(
        STAFF, lambda w: Call("GET", f"/api/v1/plan-jobs/{w.job_id}")
    ),
    ("GET", "/api/v1/plans/<int:plan_id>"): Endpoint(
        STAFF, lambda w: Call("GET", f"/api/v1/plans/{w.live_plan}")
    ),
    ("GET", "/api/v1/plans/<int:plan_id>/geojson"): Endpoint(
        STAFF, lambda w: Call("GET", f"/api/v1/plans/{w.live_plan}/geojson")
    ),
    ("GET", "/api/v1/plans/<int:plan_id>/rules.geojson"): Endpoint(
        STAFF, lambda w: Call("GET", f"/api/v1/plans/{w.live_plan}/rules.geojson")
    ),
    ("GET", "/api/v1/plans/<int:plan_id>/live"): Endpoint(
        STAFF, lambda w: Call("GET", f"/api/v1/plans/{w.live_plan}/live?once=1")
    ),
    ("POST", "/api/v1/plans/<int:plan_id>/edit"): Endpoint(
        STAFF,
        lambda w: Call(
            "POST", f"/api/v1/plans/{w.spare_plan}/edit", {"routes": {}, "check_only": True}
        ),
        spare_plan_status="draft",
    ),
    ("POST", "/api/v1/plans/<int:plan_id>/approve"): Endpoint(
        STAFF,
        lambda w: Call("POST", f"/api/v1/plans/{w.spare_plan}/approve"),
        spare_plan_status="draft",
    ),
    ("POST", "/api/v1/plans/<int:plan_id>/publish"): Endpoint(
        STAFF,
        lambda w: Call("POST", f"/api/v1/plans/{w.spare_plan}/publish"),
        spare_plan_status="approved",
    ),
    ("POST", "/api/v1/plans/<int:plan_id>/reject"): Endpoint(
        STAFF,
        lambda w: Call("POST", f"/api/v1/plans/{w.spare_plan}/reject", {"reason": "role test"}),
        spare_plan_status="draft",
    ),
    ("POST", "/api/v1/plans/<int:plan_id>/replan"): Endpoint(
        STAFF,
        lambda w: Call(
            "POST",
            f"/api/v1/plans/{w.live_plan}/replan",
            {"reason": "role test", "at": f"{w.day.isoformat()}T10:00:00+08:00", "seconds": 0.5},
            frozenset({201}),
        ),
    ),
    ("POST", "/api/v1/closures"): Endpoint(
        STAFF,
        lambda w: Call(
            "POST",
            "/api/v1/closures",
            {
                "district": "440305",
                "date": (w.day + dt.timedelta(days=1)).isoformat(),
                "title": "role test",
                "start": "11:00",
                "end": "18:00",
                "road_names": ["深南大道"],
            },
            frozenset({201}),
        ),
    ),
    ("GET", "/api/v1/stats"): Endpoint(STAFF, lambda w: Call("GET", "/api/v1/stats")),
    ("GET", "/api/v1/stats/carbon"): Endpoint(STAFF, lambda w: Call("GET", "/api/v1/stats/carbon")),
    # driver
    ("GET", "/api/v1/driver/route"): Endpoint(
        DRIVER, lambda w: Call("GET", "/api/v1/driver/route")
    ),
    ("POST", "/api/v1/driver/events"): Endpoint(
        DRIVER,
        lambda w: Call("POST", "/api/v1/driver/events", {"events": [event(w.stops_a[0])]}),
    ),
}


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(
    demo_plan: dict[str, Any], demo_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> World:
    url = copy_sqlite(demo_settings.database_url, tmp_path_factory.mktemp("roles") / "lv.db")
    settings = dataclasses.replace(demo_settings, database_url=url, solver_time_limit_s=0.5)
    engine = make_engine(url)
    with session_scope(engine) as s:
        plans = sorted(
            s.scalars(select(m.Plan).where(m.Plan.status == "draft")), key=lambda p: p.id
        )
        futian = next(p for p in plans if p.district.code == "440304")
        spare = next(p for p in plans if p.id != futian.id)
        approval.approve(s, futian.id, by="role-test")
        approval.publish(s, futian.id, by="role-test")
        vehicles = [r.vehicle_id for r in sorted(futian.routes, key=lambda r: r.id) if r.stops]
        drivers = sorted(
            s.scalars(select(m.Driver).where(m.Driver.vehicle_id.in_(vehicles))),
            key=lambda d: d.id,
        )
        a, b = drivers[0], drivers[1]
        stops = {
            d.ref: [
                st.id
                for r in futian.routes
                if r.vehicle_id == d.vehicle_id
                for st in r.stops
                if st.kind in ("pickup", "station")
            ]
            for d in (a, b)
        }
        if s.scalar(select(m.User).where(m.User.username == STAFF_USER)) is None:
            accounts.create_user(s, STAFF_USER, STAFF_PASSWORD, "dispatcher")
        job = s.scalars(select(m.PlanJob).order_by(m.PlanJob.id)).first()
        assert job is not None
        w = World(
            app=create_app({"LOOPVAN_SETTINGS": settings, "TESTING": True, "SECRET_KEY": "roles"}),
            engine=engine,
            day=futian.date,
            live_plan=futian.id,
            spare_plan=spare.id,
            job_id=job.id,
            driver_a=a.ref,
            driver_b=b.ref,
            token_a=accounts.issue_device_token(s, a.ref),
            token_b=accounts.issue_device_token(s, b.ref),
            stops_a=stops[a.ref],
            stops_b=stops[b.ref],
            booking="",
        )
    assert w.stops_a and w.stops_b
    w.booking = new_booking(w)
    c = w.clients
    c["anonymous"] = w.app.test_client()
    c["resident_own"] = w.app.test_client()
    c["resident_own"].environ_base["HTTP_X_RESIDENT_PHONE"] = RESIDENT_PHONE
    c["resident_wrong"] = w.app.test_client()
    c["resident_wrong"].environ_base["HTTP_X_RESIDENT_PHONE"] = OTHER_PHONE
    c["driver"] = w.app.test_client()
    c["driver"].environ_base["HTTP_AUTHORIZATION"] = f"Bearer {w.token_a}"
    c["dispatcher"] = w.app.test_client()
    sign_in(c["dispatcher"])
    return w


def _driver_client(w: World, token: str) -> FlaskClient:
    c = w.app.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return c


# --- the table against the app -------------------------------------------------------


def api_rules(app: Flask) -> set[tuple[str, str]]:
    """(method, rule) of every route under /api/v1 (HEAD and OPTIONS aside)."""
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1")
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


def test_every_api_endpoint_is_in_the_table(world: World) -> None:
    """A new endpoint must be added to ENDPOINTS with its audience (and a stale row removed)."""
    routes = api_rules(world.app)
    missing = sorted(routes - set(ENDPOINTS))
    stale = sorted(set(ENDPOINTS) - routes)
    assert not missing, f"endpoints without a role × endpoint expectation: {missing}"
    assert not stale, f"expectations for endpoints that no longer exist: {stale}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "key", sorted(ENDPOINTS), ids=[f"{mth} {rule}" for mth, rule in sorted(ENDPOINTS)]
)
def test_role_may_or_may_not_call_endpoint(world: World, key: tuple[str, str], role: str) -> None:
    """Each role is allowed (status of the call's success) or refused with its exact status."""
    ep = ENDPOINTS[key]
    if ep.spare_plan_status:
        set_status(world, world.spare_plan, ep.spare_plan_status)
    call = ep.call(world)
    r = world.clients[role].open(call.path, method=call.method, json=call.json)
    body = r.get_data()  # drains streams (the live feed is asked for once)
    refusal = REFUSAL[ep.audience][role]
    assert r.status_code < 500, body[:500]
    if refusal is None:
        assert r.status_code not in (401, 403), f"{role} refused: {body[:300]!r}"
        assert r.status_code in call.ok, f"{role}: {r.status_code} {body[:300]!r}"
    else:
        assert r.status_code == refusal, f"{role}: {r.status_code} {body[:300]!r}"
        doc = r.get_json()
        assert doc["code"] == refusal and doc["message"], "refusals use the one error shape"


# --- drivers -------------------------------------------------------------------------


def test_each_driver_gets_only_their_own_route(world: World) -> None:
    """Driver B's token gives B's route: none of A's stops, and not A's van."""
    a = _driver_client(world, world.token_a).get("/api/v1/driver/route")
    b = _driver_client(world, world.token_b).get("/api/v1/driver/route")
    assert a.status_code == b.status_code == 200
    ra, rb = a.get_json()["route"]["route"], b.get_json()["route"]["route"]
    assert ra["vehicle"] != rb["vehicle"]
    ids_b = {st.get("stop_id") for st in rb["stops"]}
    assert set(world.stops_b) <= ids_b
    assert not ids_b & set(world.stops_a)


def test_a_driver_cannot_report_on_another_drivers_stop(world: World) -> None:
    """Posting an event for A's stop with B's token is refused for that event; nothing is stored."""
    ev = event(world.stops_a[-1], "collected") | {"kg": {"paper": 5}}
    r = _driver_client(world, world.token_b).post("/api/v1/driver/events", json={"events": [ev]})
    assert r.status_code == 200
    (res,) = r.get_json()["results"]
    assert res["event_id"] == ev["event_id"]
    assert res["result"] == "refused" and res["status"] == 404
    with session_scope(world.engine) as s:
        assert (
            s.scalar(select(m.StopEvent).where(m.StopEvent.client_event_id == ev["event_id"]))
            is None
        )
    # The same event from A is taken.
    r = _driver_client(world, world.token_a).post("/api/v1/driver/events", json={"events": [ev]})
    assert r.get_json()["results"][0]["result"] == "stored"
    # Resending A's event id with B's token does not pass as B's.
    r = _driver_client(world, world.token_b).post("/api/v1/driver/events", json={"events": [ev]})
    assert r.get_json()["results"][0]["result"] == "refused"


def test_route_etag_gives_304_when_unchanged(world: World) -> None:
    """The second pull with If-None-Match is a bodiless 304 carrying the same ETag."""
    c = _driver_client(world, world.token_a)
    first = c.get("/api/v1/driver/route")
    assert first.status_code == 200
    etag = first.headers["ETag"]
    again = c.get("/api/v1/driver/route", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["ETag"] == etag and again.get_data() == b""
    other = c.get("/api/v1/driver/route", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200


def test_an_unknown_device_token_is_anonymous(world: World) -> None:
    for token in ("lvd_not-a-real-token", world.token_a + "x", "not-lvd"):
        r = _driver_client(world, token).get("/api/v1/driver/route")
        assert r.status_code == 401


# --- residents -----------------------------------------------------------------------


def test_a_resident_cannot_read_or_cancel_anothers_booking(world: World) -> None:
    """A wrong phone gets 404 (as for an unknown reference); the booking is untouched."""
    ref = new_booking(world, OTHER_PHONE)
    mine = world.clients["resident_own"]  # RESIDENT_PHONE: not this booking's phone
    r = mine.get(f"/api/v1/bookings/{ref}")
    assert r.status_code == 404
    unknown = mine.get("/api/v1/bookings/BK-000000-ZZZZZZ")
    assert unknown.status_code == 404
    assert r.get_json()["message"].replace(ref, "X") == unknown.get_json()["message"].replace(
        "BK-000000-ZZZZZZ", "X"
    )
    assert mine.post(f"/api/v1/bookings/{ref}/cancel", json={}).status_code == 404
    own = world.app.test_client().get(
        f"/api/v1/bookings/{ref}", headers={"X-Resident-Phone": OTHER_PHONE}
    )
    assert own.status_code == 200 and own.get_json()["status"] == "queued"
    assert "custody" not in own.get_json(), "the custody trail is for staff"


# --- CSRF ----------------------------------------------------------------------------


def test_login_form_without_csrf_token_is_refused(world: World) -> None:
    c = world.app.test_client()
    c.get("/login")
    r = c.post("/login", data={"username": STAFF_USER, "password": STAFF_PASSWORD})
    assert r.status_code == 403
    assert c.get("/api/v1/plans").status_code == 401, "not signed in"


def test_signed_in_write_without_csrf_header_is_refused(world: World) -> None:
    """The session cookie alone cannot approve a plan: 403, and the plan stays a draft."""
    set_status(world, world.spare_plan, "draft")
    c = world.app.test_client()
    token = sign_in(c, send_csrf_header=False)
    url = f"/api/v1/plans/{world.spare_plan}/approve"
    assert c.get("/api/v1/plans").status_code == 200, "signed in"
    r = c.post(url)
    assert r.status_code == 403 and "CSRF" in r.get_json()["message"]
    assert c.post(url, headers={"X-CSRF-Token": token[::-1]}).status_code == 403
    assert c.post(url, data={"csrf_token": ""}).status_code == 403
    assert plan_status(world, world.spare_plan) == "draft"
    ok = c.post(url, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200 and ok.get_json()["status"] == "approved"


# --- pages ---------------------------------------------------------------------------


def test_staff_pages_send_others_to_the_login(world: World) -> None:
    for path in ("/", f"/plans/{world.live_plan}", "/bookings", "/bookings?date=all"):
        r = world.clients["anonymous"].get(path)
        assert r.status_code == 302 and r.headers["Location"].startswith("/login")
        assert world.clients["driver"].get(path).status_code == 403
        assert world.clients["dispatcher"].get(path).status_code in (200, 302)
    assert world.clients["anonymous"].get("/login").status_code == 200


def test_the_queue_page_names_a_bad_filter(world: World) -> None:
    """A dispatcher's bad day or status gets a 400 naming it, not a traceback."""
    c = world.clients["dispatcher"]
    for query, field in (("date=2026-13-01", "date"), ("status=lost", "status")):
        r = c.get(f"/bookings?{query}")
        assert r.status_code == 400 and field.encode() in r.data
    # The live Futian plan is published: its bookings are dispatched whatever else ran.
    ok = c.get("/bookings?status=dispatched&date=all")
    assert ok.status_code == 200 and b'data-status="dispatched"' in ok.data
