"""Residents book in a real browser (Debian's chromium driven by Playwright): a point on
the map, materials with a rough weight, the first suggested slot, the confirmation with
its reference; the booking is then in the dispatcher's queue. The status page shows it and
cancels it. And the pages speak Chinese by default, English on request."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, SHOTS, copy_sqlite, needs_chromium, serve
from sqlalchemy import select

from dispatch.settings import Settings
from web import create_app

FUTIAN = (22.5405, 114.0560)  # by Futian's civic centre: served
LUOHU = (22.5900, 114.0750)  # next door in Luohu: not served
PHONE = "13800138000"


@pytest.fixture(scope="module")
def resident_settings(
    demo_plan: dict[str, Any], demo_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Our own copy of the demo database (others share the original), WAL included."""
    dst = tmp_path_factory.mktemp("resident") / "resident.db"
    url = copy_sqlite(demo_settings.database_url, dst)
    return dataclasses.replace(demo_settings, database_url=url)


@pytest.fixture(scope="module")
def server(resident_settings: Settings) -> Iterator[str]:
    """The web app over the copy, on a free loopback port in a thread."""
    app = create_app({"LOOPVAN_SETTINGS": resident_settings, "SECRET_KEY": "resident"})
    with serve(app) as url:
        yield url


def _tap(page: Any, lat: float, lon: float) -> None:
    """Click the map where (lat, lon) is, as a finger would (bringing it into view first)."""
    page.wait_for_timeout(400)  # let a zoom animation settle
    x, y = page.evaluate(
        """([lat, lon]) => {
            document.getElementById("map").scrollIntoView({block: "center"});
            const m = window.LoopvanResident.map;
            if (!m.getBounds().pad(-0.25).contains([lat, lon])) {
                m.setView([lat, lon], m.getZoom(), {animate: false});
            }
            const p = m.latLngToContainerPoint([lat, lon]);
            return [p.x, p.y];
        }""",
        [lat, lon],
    )
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)


@needs_chromium
def test_resident_books_then_follows_and_cancels(server: str, resident_settings: Settings) -> None:
    """Book on a phone-sized screen; the booking is queued for the dispatcher; cancel it."""
    from playwright.sync_api import sync_playwright

    from dispatch import models as m
    from dispatch import views
    from dispatch.db import make_engine, session_scope

    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 412, "height": 915}, locale="zh-CN")
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server + "/book")
        assert page.get_attribute("html", "lang") == "zh-CN"
        page.wait_for_selector("#map.ready", timeout=30_000)
        assert "base-failed" not in (page.get_attribute("#map", "class") or "")

        # nothing filled in: every problem is named next to its field, in Chinese
        page.click("#submit")
        assert page.inner_text('[data-error-for="resident.name"]') == "请填写此项"
        assert page.inner_text('[data-error-for="lat/lon"]') == "请在地图上选择地点"
        assert page.inner_text('[data-error-for="slot"]') == "请选择一个上门时段"

        page.fill("#f-name", "林女士")
        page.fill("#f-phone", PHONE)
        page.fill("#f-address", "深圳市福田区福华三路 88 号 2 栋 1203")
        page.check('.r-mat[data-material="paper"] input[type=checkbox]')
        page.click('.r-mat[data-material="paper"] .r-chip[data-kg="15"]')
        page.check('.r-mat[data-material="plastic"] input[type=checkbox]')
        assert page.inner_text("#total") == "合计约 20 公斤"

        # the address names a street: one tap puts the pin on it and slots follow
        street = page.locator('.r-street[data-street="福华三路"]')
        street.wait_for(timeout=30_000)
        assert "福田" in street.inner_text()
        street.click()
        page.wait_for_selector(".r-slot", timeout=30_000)
        want = page.request.get(server + "/api/v1/streets?limit=1&q=福华三路").json()[0]
        assert float(page.get_attribute("#map", "data-lat") or 0) == want["lat"]
        assert float(page.get_attribute("#map", "data-lon") or 0) == want["lon"]
        assert "福华三路" in page.inner_text("#street-note")
        page.locator("#step-place").screenshot(path=str(SHOTS / "resident-street.png"))

        # a point outside the served districts: the API's refusal, in Chinese, by the map
        _tap(page, *LUOHU)
        outside = page.locator('[data-error-for="lat/lon"]')
        outside.filter(has_text="服务区域").wait_for(timeout=30_000)

        _tap(page, *FUTIAN)
        page.wait_for_selector(".r-slot", timeout=30_000)
        assert page.locator('[data-error-for="lat/lon"]').inner_text() == ""
        lat = float(page.get_attribute("#map", "data-lat") or 0)
        lon = float(page.get_attribute("#map", "data-lon") or 0)
        assert abs(lat - FUTIAN[0]) < 0.001 and abs(lon - FUTIAN[1]) < 0.001
        first = page.locator(".r-slot").first
        assert first.get_attribute("data-rank") == "1"  # best first
        date = first.get_attribute("data-date")
        start, end = first.get_attribute("data-start"), first.get_attribute("data-end")
        first.click()
        assert first.get_attribute("aria-pressed") == "true"
        assert f"{start}–{end}" in page.inner_text("#chosen")

        page.click("#submit")
        page.wait_for_url(re.compile(r"/book/confirmed/"), timeout=30_000)
        ref = page.inner_text("#reference").strip()
        assert re.fullmatch(r"BK-\d{6}-[2-9A-Z]{6}", ref), ref
        page.wait_for_selector("#booking-details:not([hidden])", timeout=10_000)
        assert "福华三路" in page.inner_text("#facts")
        page.screenshot(path=str(SHOTS / "resident-confirmation.png"), full_page=True)

        # stored as given, queued, and in the dispatcher's queue
        engine = make_engine(resident_settings.database_url)
        with session_scope(engine) as s:
            b = s.scalar(select(m.Booking).where(m.Booking.reference == ref))
            assert b is not None
            assert b.status in ("queued", "planned")
            assert (b.resident_name, b.resident_phone) == ("林女士", PHONE)
            assert b.address == "深圳市福田区福华三路 88 号 2 栋 1203"
            assert b.district.code == "440304"
            assert b.date.isoformat() == date
            assert (f"{b.window_start:%H:%M}", f"{b.window_end:%H:%M}") == (start, end)
            assert {x["material"]: x["kg"] for x in b.materials} == {"paper": 15, "plastic": 5}
            assert all(x["m3"] > 0 for x in b.materials)
            assert ref in [q["reference"] for q in views.booking_queue(s)]

        # the status page: reference and phone kept on this device, looked up at once
        page.click("#status-link")
        page.wait_for_selector("#booking:not([hidden])", timeout=10_000)
        assert page.input_value("#s-phone") == PHONE
        assert page.inner_text("#b-ref") == ref
        assert page.inner_text("#b-status") in ("等待排班", "已排入路线")
        assert page.locator("#b-history li").count() >= 2

        page.click("#cancel")
        page.wait_for_selector("#cancel-dialog[open]")
        page.click("#cancel-no")  # changed one's mind: nothing happens
        assert page.get_attribute("#booking", "data-status") in ("queued", "planned")
        page.click("#cancel")
        page.fill("#cancel-reason", "改天再约")
        page.click("#cancel-yes")
        page.wait_for_selector('#booking[data-status="cancelled"]', timeout=10_000)
        assert page.inner_text("#b-status") == "已取消"
        assert page.locator("#cancel").is_hidden()
        assert "改天再约" in page.inner_text("#b-history")
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SHOTS / "resident-status-cancelled.png"), full_page=True)

        # the language switch keeps the page (and the booking) and speaks English
        page.click("#lang-switch")
        page.wait_for_selector('#booking[data-status="cancelled"]', timeout=10_000)
        assert page.get_attribute("html", "lang") == "en"
        assert page.inner_text("#b-status") == "Cancelled"
        assert "Paper 15 kg" in page.inner_text("#b-facts")

        # another phone number finds nothing
        page.fill("#s-phone", "13900000000")
        page.click("#lookup")
        page.locator("#lookup-error").filter(has_text="No booking found").wait_for(timeout=10_000)
        browser.close()

    with session_scope(engine) as s:
        b = s.scalar(select(m.Booking).where(m.Booking.reference == ref))
        assert b is not None and b.status == "cancelled"
        last = s.scalars(
            select(m.BookingEvent)
            .where(m.BookingEvent.booking_id == b.id)
            .order_by(m.BookingEvent.id.desc())
        ).first()
        assert last is not None
        assert (last.actor, last.note) == ("resident", "改天再约")
    assert errors == []


def test_book_page_language(tmp_path: Path) -> None:
    """``/book`` is Chinese; ``?lang=en`` English (and remembered); both dictionaries match."""
    from web.resident import STRINGS

    assert STRINGS["zh"].keys() == STRINGS["en"].keys()
    settings = dataclasses.replace(Settings.from_env(), database_url=f"sqlite:///{tmp_path}/l.db")
    client = create_app({"LOOPVAN_SETTINGS": settings, "SECRET_KEY": "lang"}).test_client()

    zh = client.get("/book").get_data(as_text=True)
    assert '<html lang="zh-CN">' in zh
    assert "预约上门回收" in zh and "纸类" in zh and "确认预约" in zh
    assert "Confirm booking" not in zh

    resp = client.get("/book?lang=en")
    en = resp.get_data(as_text=True)
    assert '<html lang="en">' in en
    assert "Book a recycling pickup" in en and "Paper" in en and "Confirm booking" in en
    assert "确认预约" not in en
    assert "loopvan_lang=en" in resp.headers["Set-Cookie"]
    assert "Book a recycling pickup" in client.get("/book").get_data(as_text=True)  # cookie
    assert "预约上门回收" in client.get("/book?lang=zh").get_data(as_text=True)

    status = client.get("/book/status?lang=en&ref=BK-261201-7KQ4MZ").get_data(as_text=True)
    assert "My booking" in status and 'value="BK-261201-7KQ4MZ"' in status
    done = client.get("/book/confirmed/BK-261201-7KQ4MZ?lang=zh").get_data(as_text=True)
    assert "预约成功" in done and "BK-261201-7KQ4MZ" in done
    assert client.get("/book/confirmed/not%20a%20ref").status_code == 404
