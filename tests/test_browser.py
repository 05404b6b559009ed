"""A real browser (Debian's chromium, driven by Playwright) opens the dispatcher page."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, SHOTS, copy_sqlite, needs_chromium, serve
from flask import Flask

from dispatch.settings import Settings
from web import create_app

USER, PASSWORD = "lin", "browser-pass-1"

pytestmark = needs_chromium


def _ensure_user(settings: Settings) -> None:
    from dispatch import accounts
    from dispatch import models as m
    from dispatch.db import make_engine, session_scope

    engine = make_engine(settings.database_url)
    with session_scope(engine) as s:
        if s.query(m.User).filter_by(username=USER).first() is None:
            accounts.create_user(s, USER, PASSWORD, "dispatcher")
    engine.dispose()


@pytest.fixture(scope="module")
def server(demo_plan: dict[str, Any], demo_settings: Settings) -> Iterator[str]:
    """The web app over the shared demo database."""
    _ensure_user(demo_settings)
    app = create_app({"LOOPVAN_SETTINGS": demo_settings, "SECRET_KEY": "browser"})
    with serve(app) as url:
        yield url


@pytest.fixture()
def copy_app(
    demo_plan: dict[str, Any], demo_settings: Settings, tmp_path: Path
) -> Iterator[tuple[str, Flask, Settings]]:
    """A server over a copy of the demo database, for tests that change plans."""
    db_url = copy_sqlite(demo_settings.database_url, tmp_path / "copy.db")  # WAL included
    settings = dataclasses.replace(demo_settings, database_url=db_url)
    _ensure_user(settings)
    app = create_app({"LOOPVAN_SETTINGS": settings, "SECRET_KEY": "browser-copy"})
    with serve(app) as url:
        yield url, app, settings


@contextmanager
def _browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _signed_in_page(browser: Any, url: str) -> tuple[Any, list[str]]:
    """A desktop-sized page signed in as the dispatcher at ``url``, and its script errors."""
    page = browser.new_page(viewport={"width": 1500, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return page, errors


def test_dispatcher_page_draws_routes_on_the_map(server: str, demo_plan: dict[str, Any]) -> None:
    """In chromium the map loads, draws one layer per route, and a stop popup shows its ETA."""
    with _browser() as browser:
        page, errors = _signed_in_page(browser, server + "/")
        page.wait_for_selector("#map.loaded", timeout=30_000)
        plan_id = int(page.get_attribute("#map", "data-plan") or 0)
        plan = next(x for x in demo_plan["plans"] if x["plan"]["id"] == plan_id)
        assert int(page.get_attribute("#map", "data-routes") or 0) == len(plan["routes"])
        markers = page.locator(".leaflet-marker-icon")
        assert markers.count() == sum(len(r["stops"]) for r in plan["routes"])
        # The timeline has a row per van, with the stops' service blocks.
        assert page.locator("#timeline .tl-row").count() == len(plan["routes"])
        work = sum(
            1 for r in plan["routes"] for s in r["stops"] if s["kind"] in ("pickup", "station")
        )
        assert page.locator("#timeline .tl-service").count() == work
        assert page.locator("#timeline .tl-travel").count() > 0
        assert "kg CO₂e" in page.inner_text("#figures")
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / "dispatcher-plan.png"))
        markers.nth(3).click(force=True)
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(timeout=5_000)
        assert "arrive" in popup.inner_text()
    assert errors == []


def _legal_moves(app: Flask, settings: Settings, plan_id: int) -> list[tuple[str, str, str, int]]:
    """Moves of one stop to another van that the re-timer accepts: (from, stop, to, index
    in the van's sequence, which holds its unload trips as in the page's stop lists).

    Uses the app's own road network, so the server's first check finds it warm.
    """
    from dispatch import models as m
    from dispatch.db import make_engine, session_scope
    from dispatch.editing import current_sequences
    from dispatch.planning import build_problem
    from dispatch.rights import session_rights
    from routing.errors import ProblemError
    from routing.retime import retime
    from web import state

    with app.app_context():
        network = state.network()
    engine = make_engine(settings.database_url)
    with session_scope(engine) as s:
        plan = s.get_one(m.Plan, plan_id)
        seqs = current_sequences(plan)
        rights = session_rights(s, network, settings.rules_dir)
        prob = build_problem(s, network, plan.district, plan.date, rights=rights).problem
    engine.dispose()
    stops: dict[str, Any] = {x.id.split(":", 1)[1]: x for x in prob.stops}
    stops.update({f.id: f for f in prob.facilities})  # unload trips stay where they are
    vans = {v.id: v for v in prob.vehicles}
    out: list[tuple[str, str, str, int]] = []
    for a, seq_a in seqs.items():
        for moved in reversed(seq_a):
            if not hasattr(stops[moved], "needs_tail_lift"):
                continue  # an unload trip (a transfer station), not a stop
            for b, seq_b in seqs.items():
                if b == a or (stops[moved].needs_tail_lift and not vans[b].tail_lift):
                    continue
                for pos in range(len(seq_b), -1, -1):
                    trial = [*seq_b[:pos], moved, *seq_b[pos:]]
                    try:
                        retime(prob, vans[b], [stops[r] for r in trial])
                        retime(prob, vans[a], [stops[r] for r in seq_a if r != moved])
                    except ProblemError:
                        continue
                    out.append((a, moved, b, pos))
                    break
                if len(out) >= 4:
                    return out
    return out


def test_a_dispatcher_edits_and_approves_a_plan(
    copy_app: tuple[str, Flask, Settings],
) -> None:
    """On a copy of the demo database: open the latest draft, move a stop to another van, see
    the legality verdict at once, save it as a new version, approve it; then publish it and
    watch a driver's event arrive live."""
    from sqlalchemy import select

    from dispatch import execution
    from dispatch import models as m
    from dispatch.db import make_engine, session_scope
    from dispatch.editing import current_sequences

    url, app, settings = copy_app
    engine = make_engine(settings.database_url)
    with session_scope(engine) as s:
        plan_id = s.scalars(
            select(m.Plan.id)
            .where(m.Plan.status == "draft")
            .order_by(m.Plan.date.desc(), m.Plan.id.desc())
        ).first()
        assert plan_id is not None, "the demo database has no draft plan"
        old_version = s.get_one(m.Plan, plan_id).version
    moves = _legal_moves(app, settings, plan_id)
    assert moves, "no stop of the demo plan fits on another van"

    with _browser() as browser:
        page, errors = _signed_in_page(browser, f"{url}/plans/{plan_id}")
        page.wait_for_selector("#map.loaded", timeout=30_000)
        assert page.get_attribute("#plan-status", "data-status") == "draft"
        assert page.is_enabled("#approve-btn") and not page.is_enabled("#publish-btn")
        assert not page.is_enabled("#save-btn")

        chosen = None
        for a, ref, b, pos in moves:
            page.click(f'details.van[data-vehicle="{a}"] > summary')
            page.click(f'#stop-lists li.stop[data-ref="{ref}"]')
            assert ref in page.inner_text("#sel-label")
            page.select_option("#move-van", b)
            page.fill("#move-pos", str(pos + 1))
            page.click("#move-btn")
            page.wait_for_selector("#verdict.legal, #verdict.illegal", timeout=30_000)
            if "legal" in (page.get_attribute("#verdict", "class") or "").split():
                chosen = (a, ref, b, pos)
                break
            page.click("#reset-btn")  # refused by the road rules: the next candidate
            page.wait_for_selector("#verdict.idle")
        assert chosen is not None, page.inner_text("#verdict")
        a, ref, b, pos = chosen
        verdict = page.inner_text("#verdict")
        assert "Legal" in verdict and "km" in verdict and b in verdict
        moved = page.locator(f'ol.stop-list[data-vehicle="{b}"] li.stop[data-ref="{ref}"]')
        assert "moved" in (moved.get_attribute("class") or "")
        assert page.locator("#timeline .tl-row.edited").count() == 2
        assert page.locator("#figures .preview").count() >= 1
        assert page.is_enabled("#save-btn")
        page.eval_on_selector("#side", "e => { e.scrollTop = 0; }")
        page.wait_for_timeout(400)
        page.screenshot(path=str(SHOTS / "dispatcher-edit.png"))

        page.click("#save-btn")
        page.wait_for_url(re.compile(rf"/plans/(?!{plan_id}$)\d+$"), timeout=30_000)
        new_id = int(page.url.rsplit("/", 1)[1])
        page.wait_for_selector("#map.loaded", timeout=30_000)
        assert page.get_attribute("#plan-status", "data-status") == "draft"
        page.click("#approve-btn")
        page.wait_for_selector('#plan-status[data-status="approved"]', timeout=10_000)
        assert not page.is_enabled("#approve-btn") and page.is_enabled("#publish-btn")

        with session_scope(engine) as s:
            new = s.get_one(m.Plan, new_id)
            assert new.status == "approved" and new.approved_by == USER
            assert new.version == old_version + 1
            assert s.get_one(m.Plan, plan_id).status == "superseded"
            seqs = current_sequences(new)
            assert ref in seqs[b] and ref not in seqs.get(a, [])

        # The API's refusal is shown: approving twice.
        page.eval_on_selector("#approve-btn", "e => { e.disabled = false; }")
        page.click("#approve-btn")
        page.wait_for_selector("#action-msg.error", timeout=10_000)
        assert "only a draft" in page.inner_text("#action-msg")

        # Publish, then a driver reports a stop: the page marks it done as it happens.
        page.click("#publish-btn")
        page.wait_for_selector('#plan-status[data-status="published"]', timeout=10_000)
        page.wait_for_selector("#live .pill.on", timeout=15_000)
        assert not page.is_visible("#move-bar")
        with session_scope(engine) as s:
            route = next(r for r in s.get_one(m.Plan, new_id).routes if r.vehicle.plate == b)
            stop = next(x for x in route.stops if x.kind in ("pickup", "station"))
            driver = s.scalars(
                select(m.Driver).where(m.Driver.vehicle_id == route.vehicle_id)
            ).first()
            if driver is None:
                driver = m.Driver(
                    ref=f"DRV-T{uuid.uuid4().hex[:6]}", name="测试", phone="13800000000"
                )
                driver.vehicle_id = route.vehicle_id
                s.add(driver)
                s.flush()
            execution.record_event(
                s,
                driver,
                {
                    "event_id": f"browser-{uuid.uuid4().hex}",
                    "kind": "collected",
                    "stop_id": stop.id,
                    "recorded_at": dt.datetime.now(dt.UTC).isoformat(),
                    "kg": {"paper": 12.5},
                },
            )
            done_key = f"{b}|{stop.sequence}"
        page.wait_for_selector(
            f'#stop-lists li.stop.live-done[data-key="{done_key}"]',
            state="attached",
            timeout=15_000,
        )
        page.wait_for_selector(".stop-icon.live-done", state="attached", timeout=5_000)
        assert "collected" in page.inner_text("#live-feed")
        assert page.get_attribute("#plan-status", "data-status") == "in_progress"
    engine.dispose()
    assert errors == []


def _quiet_street(app: Flask, plan: Any) -> str:
    """A street of the plan's district on which no stop of the plan stands (closing it
    leaves every stop reachable on foot of the van: only the way there changes)."""
    from routing.streets import StreetIndex
    from web import state

    with app.app_context():
        network = state.network()
    g = network.graph
    at_stops: set[str] = set()
    for r in plan.routes:
        for st in r.stops:
            for _u, _v, d in [*g.out_edges(st.node, data=True), *g.in_edges(st.node, data=True)]:
                nm = d.get("name")
                at_stops.update(nm if isinstance(nm, list) else [nm])
    lon_lat = [(st.lon, st.lat) for r in plan.routes for st in r.stops]
    west, east = min(x for x, _ in lon_lat), max(x for x, _ in lon_lat)
    south, north = min(y for _, y in lon_lat), max(y for _, y in lon_lat)
    for street in StreetIndex.from_network(network).streets:
        if (
            street.name not in at_stops
            and west < street.lon < east
            and south < street.lat < north
            and 300 < street.length_m < 1500
        ):
            return street.name
    raise AssertionError("no street without stops in the plan's area")


def test_a_dispatcher_replans_a_live_plan_for_a_breakdown_and_a_closure(
    copy_app: tuple[str, Flask, Settings],
) -> None:
    """On a published plan: a reason, a broken-down van, a road closed 11:00-18:00 (its
    name suggested from the road graph) and "as of 11:00": the page records the closure,
    re-plans, and opens the new draft with its differences; the old plan points to it."""
    from sqlalchemy import select

    from dispatch import approval
    from dispatch import models as m
    from dispatch.db import make_engine, session_scope

    url, app, settings = copy_app
    engine = make_engine(settings.database_url)
    with session_scope(engine) as s:
        plan = s.scalars(
            select(m.Plan).where(m.Plan.status.in_(("draft", "approved", "published")))
            .order_by(m.Plan.date.desc(), m.Plan.id.desc())
        ).first()  # fmt: skip
        assert plan is not None
        if plan.status == "draft":
            approval.approve(s, plan.id, by=USER)
        if plan.status == "approved":
            approval.publish(s, plan.id, by=USER)
        plan_id, day = plan.id, plan.date
        broken = max(plan.routes, key=lambda r: len(r.stops)).vehicle.plate
        road = _quiet_street(app, plan)

    with _browser() as browser:
        page, errors = _signed_in_page(browser, f"{url}/plans/{plan_id}")
        page.wait_for_selector("#replan-form", timeout=30_000)
        assert page.get_attribute("#plan-status", "data-status") == "published"
        # nothing said: refused on the page, nothing sent
        page.click("#rp-go")
        assert "say why" in page.inner_text('[data-error-for="reason"]')
        page.fill("#rp-road", road[:2])
        page.wait_for_function(
            "() => document.querySelectorAll('#rp-roads option').length > 0", timeout=10_000
        )
        suggested = page.eval_on_selector_all("#rp-roads option", "os => os.map(o => o.value)")
        assert all(road[:2] in name for name in suggested)
        page.fill("#rp-road", road)
        page.click("#rp-go")
        assert "hours" in page.inner_text('[data-error-for="closure"]')
        page.fill("#rp-reason", "van broke down; road works")
        page.select_option("#rp-broken", broken)
        page.fill("#rp-start", "11:00")
        page.fill("#rp-end", "18:00")
        page.fill("#rp-at", "11:00")
        page.locator("#replan").screenshot(path=str(SHOTS / "dispatcher-replan.png"))
        page.click("#rp-go")
        page.wait_for_url(re.compile(rf"/plans/(?!{plan_id}$)\d+$"), timeout=120_000)
        new_id = int(page.url.rsplit("/", 1)[1])
        page.wait_for_selector("#replan-diff", timeout=30_000)
        diff = page.inner_text("#replan-diff")
        assert "van broke down; road works" in diff and broken in diff
        assert page.get_attribute("#plan-status", "data-status") == "draft"

        with session_scope(engine) as s:
            new = s.get_one(m.Plan, new_id)
            assert new.solver_stats["replan"]["broken"] == broken
            assert new.solver_stats["replan"]["at"].startswith(f"{day.isoformat()}T11:00")
            rules = s.scalars(select(m.TemporaryRule).where(m.TemporaryRule.date == day)).all()
            assert any(road in str(r.rule) for r in rules)
            assert s.get_one(m.Plan, plan_id).status == "published"  # live until replaced

        # the live plan now points at the draft awaiting approval
        page.goto(f"{url}/plans/{plan_id}")
        page.wait_for_selector(".pending-draft", timeout=10_000)
        assert f"plan #{new_id}" in page.inner_text(".pending-draft")
    engine.dispose()
    assert errors == []


def test_the_booking_queue_filters_by_status_and_takes_an_urgent_booking(
    copy_app: tuple[str, Flask, Settings],
) -> None:
    """The queue lists the day's bookings with where each is planned; a status chip narrows
    it; an urgent booking for today is placed by a street suggested from the address,
    stored once with its priority, and shows up in today's queue."""
    from sqlalchemy import func, select

    from dispatch import models as m
    from dispatch.db import make_engine, session_scope

    url, app, settings = copy_app
    # the server's clock: 10:00 in Shenzhen on the demo day, whenever the test runs
    app.config["LOOPVAN_NOW"] = dt.datetime(
        2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))
    )
    engine = make_engine(settings.database_url)
    with _browser() as browser:
        page, errors = _signed_in_page(browser, f"{url}/bookings")
        page.wait_for_selector("#queue", timeout=30_000)
        day = dt.date.fromisoformat(page.eval_on_selector("#q-date", "s => s.value"))
        with session_scope(engine) as s:
            total = s.scalar(select(func.count()).where(m.Booking.date == day))
            planned = s.scalar(
                select(func.count()).where(m.Booking.date == day, m.Booking.status == "planned")
            )
        assert total and page.locator("tr.booking-row").count() == total
        placed = page.locator('tr.booking-row[data-status="planned"] td:last-child a')
        assert placed.count() == planned  # each planned booking links to its plan
        page.click('#status-chips a[data-status="planned"]')
        page.wait_for_selector('#status-chips a.on[data-status="planned"]')
        assert page.locator("tr.booking-row").count() == planned
        assert page.locator('tr.booking-row:not([data-status="planned"])').count() == 0

        page.click("#urgent-box > summary")
        page.fill("#u-name", "陈先生")
        page.fill("#u-phone", "13800138009")
        page.fill("#u-address", "福田区福华三路 88 号 1 栋")
        street = page.locator('#u-streets .street[data-street="福华三路"]')
        street.wait_for(timeout=15_000)
        page.click("#u-go")  # no street picked yet: refused on the page
        assert "pick the street" in page.inner_text('[data-error-for="lat/lon"]')
        street.click()
        page.select_option("#u-material", "e_waste")
        page.fill("#u-kg", "12")
        page.fill("#u-start", "00:00")
        page.fill("#u-end", "23:59")
        page.click("#u-go")  # outside the service hours: the API's refusal, by its field
        page.wait_for_selector("#u-msg.error", timeout=15_000)
        assert "07:00" in page.inner_text('[data-error-for="window"]')
        page.fill("#u-start", "07:00")
        page.fill("#u-end", "09:30")
        page.click("#u-go")  # over by 10:00
        page.wait_for_selector("#u-msg.error", timeout=15_000)
        assert "passed today" in page.inner_text('[data-error-for="window"]')
        page.fill("#u-start", "12:00")
        page.fill("#u-end", "17:00")
        page.locator("#urgent-box").screenshot(path=str(SHOTS / "dispatcher-urgent.png"))
        page.click("#u-go")
        page.wait_for_selector("#u-done[data-reference]", timeout=30_000)
        ref = page.get_attribute("#u-done", "data-reference")
        assert ref and ref in page.inner_text("#u-msg")
        with session_scope(engine) as s:
            b = s.scalars(select(m.Booking).where(m.Booking.reference == ref)).one()
            today = page.eval_on_selector("#urgent-form", "f => f.dataset.today")
            assert today == "2026-12-01"
            assert b.date.isoformat() == today and b.priority == 9 and b.status == "queued"
            assert b.district.code == "440304" and b.materials[0]["material"] == "e_waste"
        page.click("#u-done a:last-child")
        page.wait_for_selector(f'tr.booking-row[data-ref="{ref}"]', timeout=10_000)
        assert page.get_attribute(f'tr.booking-row[data-ref="{ref}"]', "data-status") == "queued"
        page.screenshot(path=str(SHOTS / "dispatcher-queue.png"))
    engine.dispose()
    assert errors == []
