"""The web app (thin): HTTP, templates and static files over ``dispatch`` services."""

from __future__ import annotations

from typing import Any

from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Application factory."""
    app = Flask(__name__)
    app.config.update(config or {})
    return app
