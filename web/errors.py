"""Errors as JSON of one shape under ``/api/``, mapped in one place.

``{"code": 422, "status": "Unprocessable Entity", "message": "...", "errors": {"json":
{"field": ["problem"]}}}`` — the shape flask-smorest gives for a field marshmallow
refused, used as well for the dispatch layer's own errors. An edit or plan that breaks a
road rule lists the violations under ``violations``.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from dispatch.errors import DispatchError, InvalidInput
from dispatch.planning import IllegalPlanError, PlanningError
from road_rules.calendar import CalendarError
from road_rules.errors import RuleError
from routing.errors import RoutingError

log = logging.getLogger(__name__)


def _body(code: int, message: str, **extra: Any) -> Any:
    resp = jsonify({"code": code, "status": HTTPStatus(code).phrase, "message": message, **extra})
    resp.status_code = code
    return resp


def init_app(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        if not request.path.startswith("/api/"):
            return exc
        code = exc.code or 500
        data = getattr(exc, "data", None)  # flask-smorest / webargs: the fields refused
        if isinstance(data, dict) and "messages" in data:
            return _body(code, "some fields are not valid", errors=data["messages"])
        return _body(code, str(exc.description or HTTPStatus(code).phrase))

    @app.errorhandler(DispatchError)
    def _dispatch(exc: DispatchError) -> Any:
        if isinstance(exc, InvalidInput):
            return _body(
                exc.status,
                str(exc),
                errors={"json": {k: [v] for k, v in exc.problems.items()}},
            )
        return _body(exc.status, str(exc))

    @app.errorhandler(IllegalPlanError)
    def _illegal(exc: IllegalPlanError) -> Any:
        return _body(
            422,
            f"the plan would break {len(exc.violations)} rule(s); nothing was saved",
            violations=[
                {"rule": v.rule, "vehicle": v.vehicle, "stop": v.stop, "at": v.at,
                 "message": v.message}
                for v in exc.violations
            ],
        )  # fmt: skip

    @app.errorhandler(PlanningError)
    @app.errorhandler(RoutingError)
    @app.errorhandler(RuleError)
    @app.errorhandler(CalendarError)
    def _domain(exc: Exception) -> Any:
        return _body(422, str(exc))
