"""A real browser (Debian's chromium, driven by Playwright) opens the dispatcher page."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from dispatch.settings import REPO_ROOT, Settings
from web import create_app

CHROMIUM = os.environ.get("LOOPVAN_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("LOOPVAN_SCREENSHOTS", REPO_ROOT / "artifacts" / "screenshots"))

pytestmark = pytest.mark.skipif(
    not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists(),
    reason=f"no chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)",
)


@pytest.fixture(scope="module")
def server(demo_plan: dict[str, Any], demo_settings: Settings) -> Iterator[str]:
    """The web app served on a free loopback port in a thread."""
    from dispatch import accounts
    from dispatch import models as m
    from dispatch.db import make_engine, session_scope

    with session_scope(make_engine(demo_settings.database_url)) as s:
        if s.query(m.User).filter_by(username="lin").first() is None:
            accounts.create_user(s, "lin", "browser-pass-1", "dispatcher")
    app = create_app({"LOOPVAN_SETTINGS": demo_settings, "SECRET_KEY": "browser"})
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def test_dispatcher_page_draws_routes_on_the_map(server: str, demo_plan: dict[str, Any]) -> None:
    """In chromium the map loads, draws one layer per route, and a stop popup shows its ETA."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1500, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server + "/")
        page.fill("input[name=username]", "lin")
        page.fill("input[name=password]", "browser-pass-1")
        page.click("button[type=submit]")
        page.wait_for_selector("#map.loaded", timeout=30_000)
        plan_id = int(page.get_attribute("#map", "data-plan") or 0)
        plan = next(x for x in demo_plan["plans"] if x["plan"]["id"] == plan_id)
        assert int(page.get_attribute("#map", "data-routes") or 0) == len(plan["routes"])
        markers = page.locator(".leaflet-marker-icon")
        assert markers.count() == sum(len(r["stops"]) for r in plan["routes"])
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / "dispatcher-plan.png"))
        markers.nth(3).click(force=True)
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(timeout=5_000)
        assert "arrive" in popup.inner_text()
        browser.close()
    assert errors == []
