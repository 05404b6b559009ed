"""Property-based API tests generated from the OpenAPI document (schemathesis, in-process WSGI).

Every documented operation gets generated requests — valid and invalid bodies, queries,
headers and path values — as three callers: anonymous, a driver (device token) and a
signed-in dispatcher (session cookie + ``X-CSRF-Token``). Whatever they send, the app must
answer without a server error (``not_a_server_error``).

Kept fast (well under three minutes on two cores):

* ``/plans/{plan_id}/live`` is left out: without ``?once=1`` it streams for ever.
* 20 generated examples per operation and caller (``LOOPVAN_PROPERTY_EXAMPLES``), besides
  schemathesis' coverage cases (boundaries and invalid values of each field);
* a valid solver time limit in a generated body (``seconds`` of re-plans) is cut to 0.5 s,
  and so is the settings' default;
* ``POST /plans`` answers 202 with its job ids as usual, but its background build runs on a
  backend that marks the jobs failed instead of solving: forked solver processes and
  minutes of CPU would make this test slow and its database busy. Builds are covered by
  the worker tests.

The tests write (bookings, plan states, events), so they run on a copy of the demo database.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from dispatch import accounts, approval
from dispatch import models as m
from dispatch.db import make_engine, session_scope
from dispatch.settings import Settings
from web import create_app

#: Generated examples per operation and role; raise it for a deeper local run.
MAX_EXAMPLES = int(os.environ.get("LOOPVAN_PROPERTY_EXAMPLES", "20"))
USER, PASSWORD = "prop-test-dispatcher", "correct-horse-battery-2"

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
        # The coverage phase adds boundary and negative cases for every field.
        "phases": {"coverage": {"enabled": True}, "fuzzing": {"enabled": True}},
    }
)


@dataclasses.dataclass
class Api:
    app: Flask
    engine: Engine
    driver_token: str
    session_cookie: str
    csrf: str


class _NoSolveBackend:
    """A worker backend that fails each plan job at once, naming why (see module doc)."""

    name = "local"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def submit(self, database_url: str, job_ids: Sequence[int]) -> None:
        with session_scope(self.engine) as s:
            s.execute(
                update(m.PlanJob)
                .where(m.PlanJob.id.in_(list(job_ids)))
                .values(status="failed", error="not solved in the property tests")
            )

    def close(self) -> None:
        """Nothing to release."""


def _copy_sqlite(url: str, to: Path) -> str:
    assert url.startswith("sqlite:///"), "the demo fixture uses SQLite"
    src, dst = sqlite3.connect(url.removeprefix("sqlite:///")), sqlite3.connect(to)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{to}"


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found[1]


@pytest.fixture(scope="module")
def api(
    demo_plan: dict[str, Any], demo_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    url = _copy_sqlite(demo_settings.database_url, tmp_path_factory.mktemp("props") / "lv.db")
    settings = dataclasses.replace(demo_settings, database_url=url, solver_time_limit_s=0.5)
    engine = make_engine(url)
    with session_scope(engine) as s:
        # One plan published (the driver has a route; re-plans apply), the other a draft.
        plan = s.scalars(select(m.Plan).where(m.Plan.status == "draft").order_by(m.Plan.id)).first()
        assert plan is not None
        approval.approve(s, plan.id, by="prop-test")
        approval.publish(s, plan.id, by="prop-test")
        vehicle = next(r.vehicle_id for r in plan.routes if r.stops)
        driver = s.scalars(select(m.Driver).where(m.Driver.vehicle_id == vehicle)).first()
        assert driver is not None
        token = accounts.issue_device_token(s, driver.ref)
        accounts.create_user(s, USER, PASSWORD, "dispatcher")
    app = create_app({"LOOPVAN_SETTINGS": settings, "TESTING": True, "SECRET_KEY": "props"})
    c = app.test_client()
    c.post(
        "/login",
        data={
            "username": USER,
            "password": PASSWORD,
            "csrf_token": _csrf(c.get("/login").get_data(as_text=True)),
        },
    )
    csrf = _csrf(c.get("/login").get_data(as_text=True))  # renewed at sign-in
    cookie = c.get_cookie("session")
    assert cookie is not None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("web.api.backend_from_env", lambda: _NoSolveBackend(engine))
        yield Api(app, engine, token, cookie.value, csrf)
    engine.dispose()


def _load_schema() -> Any:
    """The OpenAPI document, read at collection time from an app over an empty in-memory
    database (the document depends on the code only); requests go to the :func:`api` app.

    (``schemathesis.pytest.from_fixture`` would load it from a fixture, but its lazy loader
    breaks on pytest 9.2, which dropped ``Node._nodeid``.)
    """
    spec_app = create_app({"LOOPVAN_SETTINGS": Settings(database_url="sqlite://"),
                           "TESTING": True, "SECRET_KEY": "spec"})  # fmt: skip
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", spec_app, config=CONFIG)


schema = _load_schema().exclude(path_regex=r"/live$")


def _short_solves(case: Any) -> None:
    """Cap a valid solver limit in a generated body at 0.5 s (values out of range stay:
    they test the checks)."""
    body = case.body
    if isinstance(body, dict):
        secs = body.get("seconds")
        if isinstance(secs, int | float) and not isinstance(secs, bool) and 1 < secs <= 120:
            body["seconds"] = 0.5


def _call(case: Any, api: Api, role: str) -> None:
    _short_solves(case)
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    if role == "driver":
        headers["Authorization"] = f"Bearer {api.driver_token}"
    elif role == "dispatcher":
        headers["X-CSRF-Token"] = api.csrf
        cookies["session"] = api.session_cookie
    response = case.call(headers=headers, cookies=cookies, app=api.app)
    case.validate_response(response, checks=[not_a_server_error], headers=headers)


_SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@_SETTINGS
def test_anonymous_never_gets_a_server_error(case: Any, api: Api) -> None:
    _call(case, api, "anonymous")


@schema.parametrize()
@_SETTINGS
def test_driver_never_gets_a_server_error(case: Any, api: Api) -> None:
    _call(case, api, "driver")


@schema.parametrize()
@_SETTINGS
def test_dispatcher_never_gets_a_server_error(case: Any, api: Api) -> None:
    _call(case, api, "dispatcher")


# --- server errors found here, kept as fixed regressions -------------------------------

BIG = 2**70  # more than a 64-bit database integer
_WINDOW_WITH_OFFSET = {
    "resident": {"name": "王伟", "phone": "13800138000"},
    "address": "福田区 景田",
    "lat": 22.5405,
    "lon": 114.0560,
    "materials": [{"material": "paper", "kg": 5}],
    "date": "2026-12-01",
    "window": {"start": "09:00", "end": "11:00+08:00"},  # aware vs naive time compare
}
FOUND: list[tuple[str, str, str, Any]] = [
    ("dispatcher", "GET", f"/api/v1/plans/{BIG}", None),
    ("dispatcher", "GET", f"/api/v1/plan-jobs/{BIG}", None),
    ("dispatcher", "POST", f"/api/v1/plans/{BIG}/approve", None),
    ("dispatcher", "GET", f"/api/v1/stats/carbon?plan={BIG}", None),
    ("dispatcher", "GET", "/api/v1/stats?to=0001-01-01", None),
    ("dispatcher", "GET", "/api/v1/stats?from=0001-01-01&to=9999-12-31", None),
    ("dispatcher", "GET", "/api/v1/stats/carbon?to=0001-01-02", None),
    ("dispatcher", "POST", "/api/v1/plans/1/replan", {"reason": "x", "at": "0001-01-01T00:00:00+14:00"}),
    ("dispatcher", "POST", "/api/v1/plans/1/replan", {"reason": "x", "at": "9999-12-31T23:59:59-12:00"}),
    ("anonymous", "POST", "/api/v1/bookings", _WINDOW_WITH_OFFSET),
    ("driver", "POST", "/api/v1/driver/events", {"events": [
        {"event_id": "regress-1", "kind": "arrived", "stop_id": BIG,
         "recorded_at": "2026-12-01T09:00:00+08:00"}]}),
    ("driver", "POST", "/api/v1/driver/events", {"events": [
        {"event_id": "regress-2", "kind": "arrived", "stop_id": 1,
         "recorded_at": "9999-12-31T23:59:59-12:00"}]}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("role", "method", "url", "body"), FOUND, ids=[f"{r} {m} {u}"[:70] for r, m, u, _ in FOUND]
)
def test_found_server_errors_stay_fixed(
    api: Api, role: str, method: str, url: str, body: Any
) -> None:
    """Each of these answered 500 once; now a 4xx naming the problem (an event: per event)."""
    c = api.app.test_client()
    headers = {}
    if role == "driver":
        headers["Authorization"] = f"Bearer {api.driver_token}"
    elif role == "dispatcher":
        c.set_cookie("session", api.session_cookie)
        headers["X-CSRF-Token"] = api.csrf
    r = c.open(url, method=method, json=body, headers=headers)
    doc = r.get_json()
    if url.endswith("/events"):
        assert r.status_code == 200
        (res,) = doc["results"]
        assert res["result"] == "invalid" and res["status"] == 422 and res["errors"]
    else:
        assert 400 <= r.status_code < 500, doc
        assert doc["code"] == r.status_code and doc["message"]
