"""The web app (thin): HTTP, templates and static files over ``dispatch`` services."""

from __future__ import annotations

from typing import Any

from flask import Flask

from dispatch.settings import Settings


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Application factory.

    ``config`` may hold ``LOOPVAN_SETTINGS`` (a :class:`dispatch.settings.Settings`);
    otherwise settings come from the environment.
    """
    app = Flask(__name__)
    app.config.update(config or {})
    app.config.setdefault("LOOPVAN_SETTINGS", Settings.from_env())
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    from web import api, dispatcher, errors, state

    state.init_app(app)
    errors.init_app(app)
    app.register_blueprint(dispatcher.bp)
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    return app
