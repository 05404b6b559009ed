"""The driver's tablet app (a progressive web app): shell page, service worker, manifest."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

bp = Blueprint("driver", __name__)


@bp.get("/driver")
def app_shell() -> Any:
    """The app shell; the route itself comes from ``/api/v1/driver/route``."""
    return render_template("driver.html")
