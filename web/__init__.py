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
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(app.config["LOOPVAN_SETTINGS"])
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    from web import api, auth, dispatcher, driver, errors, resident, state

    # Path ids are database ids: a larger number matches no route (404), never a 500.
    app.url_map.converters["int"] = api.IdConverter
    state.init_app(app)
    auth.init_app(app)
    app.register_blueprint(dispatcher.bp)
    app.register_blueprint(driver.bp)
    app.register_blueprint(resident.bp)
    api.init_app(app)
    errors.init_app(app)  # after flask-smorest, so that one error shape wins
    return app


def _secret_key(settings: Settings) -> str:
    """``LOOPVAN_SECRET_KEY``, or a random key kept in ``instance/secret_key`` (made once)."""
    import os
    import secrets

    if os.environ.get("LOOPVAN_SECRET_KEY"):
        return os.environ["LOOPVAN_SECRET_KEY"]
    from dispatch.settings import REPO_ROOT

    path = REPO_ROOT / "instance" / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()
