"""Domain errors and HTTP errors mapped to JSON responses, in one place."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException


def init_app(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        if request.path.startswith("/api/"):
            resp = jsonify({"error": exc.name, "message": exc.description, "status": exc.code})
            return resp, exc.code
        return exc
