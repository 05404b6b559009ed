"""The driver's tablet app (a progressive web app): shell page, service worker, manifest.

The shell needs no sign-in: it holds no data. The tablet is paired once by opening
``/driver#token=lvd_...`` (the token stays in the fragment, so it never reaches a server
log); the page keeps it in ``localStorage`` and calls the driver API with it:
``GET /api/v1/driver/route`` and ``POST /api/v1/driver/events``.

Offline: the service worker (``/driver/sw.js``, scope ``/driver``) keeps the shell and the
last route; recorded events wait in the tablet's queue until the API takes them (resending
is harmless, the API is idempotent by event id).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, render_template, url_for

from dispatch.materials import MATERIAL_NAMES, MATERIALS

bp = Blueprint("driver", __name__)


SCOPE = "/driver"
_SHELL_FILES = ("static/driver.js", "static/driver.css", "static/driver-sw.js")
_THEME = "#0b3d1f"


def _web_dir() -> Path:
    return Path(current_app.root_path)


def shell_version() -> str:
    """A short hash of the shell's files: a new one makes tablets fetch the new shell."""
    h = hashlib.sha256()
    for name in (*_SHELL_FILES, "templates/driver.html"):
        h.update((_web_dir() / name).read_bytes())
    h.update(json.dumps(MATERIAL_NAMES, sort_keys=True).encode())
    return h.hexdigest()[:12]


def _materials() -> list[dict[str, str]]:
    return [
        {"key": k, "zh": MATERIAL_NAMES.get(k, (k, k))[0], "en": MATERIAL_NAMES.get(k, (k, k))[1]}
        for k in MATERIALS
    ]


def _shell_urls(version: str) -> list[str]:
    return [
        url_for("driver.app_shell"),
        url_for("static", filename="driver.js", v=version),
        url_for("static", filename="driver.css", v=version),
        url_for("driver.manifest"),
        url_for("driver.icon"),
    ]


@bp.get("/driver")
def app_shell() -> Any:
    """The app shell; the route itself comes from ``/api/v1/driver/route``."""
    version = shell_version()
    config = {
        "version": version,
        "materials": _materials(),
        "routeUrl": "/api/v1/driver/route",
        "eventsUrl": "/api/v1/driver/events",
        "swUrl": url_for("driver.service_worker", v=version),
        "scope": SCOPE,
    }
    resp = Response(
        render_template("driver.html", version=version, config=config), mimetype="text/html"
    )
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/driver/sw.js")
def service_worker() -> Any:
    """The service worker, served under ``/driver`` so that its scope may cover the shell.

    Its first lines name the shell version and the files to keep, so any change to the
    shell makes the browser install a new worker (and drop the old cache).
    """
    version = shell_version()
    head = (
        f"const SHELL_VERSION = {json.dumps(version)};\n"
        f"const SHELL_URLS = {json.dumps(_shell_urls(version))};\n"
        f"const SHELL_PAGE = {json.dumps(url_for('driver.app_shell'))};\n"
        f"const ROUTE_URL = {json.dumps('/api/v1/driver/route')};\n"
    )
    body = (_web_dir() / "static" / "driver-sw.js").read_text(encoding="utf-8")
    resp = Response(head + body, mimetype="text/javascript")
    resp.headers["Service-Worker-Allowed"] = SCOPE
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/driver/manifest.webmanifest")
def manifest() -> Any:
    """Web app manifest: installable, standalone, portrait, Chinese first."""
    doc = {
        "name": "Loopvan 司机 · Driver",
        "short_name": "Loopvan 司机",
        "description": "今日路线、收运记录、离线同步 · Today's route, collections, offline sync",
        "lang": "zh-CN",
        "start_url": url_for("driver.app_shell"),
        "scope": SCOPE,
        "display": "standalone",
        "orientation": "any",
        "background_color": "#ffffff",
        "theme_color": _THEME,
        "icons": [
            {"src": url_for("driver.icon"), "sizes": "any", "type": "image/svg+xml"},
            {
                "src": url_for("driver.icon"),
                "sizes": "any",
                "type": "image/svg+xml",
                "purpose": "maskable",
            },
        ],
    }
    resp = Response(json.dumps(doc, ensure_ascii=False), mimetype="application/manifest+json")
    resp.headers["Cache-Control"] = "no-cache"
    return resp


_ICON = f"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512">
<rect width="512" height="512" rx="96" fill="{_THEME}"/>
<path d="M256 96a160 160 0 1 1-139 80" fill="none" stroke="#fff" stroke-width="44"
 stroke-linecap="round"/>
<path d="M88 120l40 86 78-56z" fill="#fff"/>
<rect x="168" y="250" width="176" height="92" rx="14" fill="#ffd23f"/>
<circle cx="206" cy="350" r="22" fill="#fff"/><circle cx="306" cy="350" r="22" fill="#fff"/>
</svg>
"""


@bp.get("/driver/icon.svg")
def icon() -> Any:
    """The app icon (a loop around a van)."""
    resp = Response(_ICON, mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "max-age=86400"
    return resp
