"""Resident booking pages (mobile-first, Chinese and English)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

bp = Blueprint("resident", __name__)


@bp.get("/book")
def book() -> Any:
    """Book a pickup."""
    return render_template("book.html")
