"""Who is asking: dispatchers and admins (session cookie, CSRF-checked), drivers (device
token), residents (booking reference + phone), or nobody.

* Dispatchers sign in at ``/login`` (hashed passwords in ``users``); the session cookie is
  HttpOnly and SameSite=Lax. Every unsafe request made with that cookie — a form post or
  a ``fetch`` — must carry the session's CSRF token (form field ``csrf_token`` or header
  ``X-CSRF-Token``), or it is refused with 403.
* Drivers send ``Authorization: Bearer lvd_...``: a device token bound to one driver.
* Residents prove a booking with the phone number it was made with
  (``X-Resident-Phone``).
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

from flask import (
    Blueprint,
    Flask,
    abort,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from dispatch import accounts
from dispatch import models as m
from web import state

bp = Blueprint("auth", __name__)

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Identity:
    """The caller: ``role`` is anonymous / driver / dispatcher / admin."""

    role: str
    name: str = ""
    user_id: int | None = None
    driver_id: int | None = None

    @property
    def staff(self) -> bool:
        return self.role in ("dispatcher", "admin")


ANONYMOUS = Identity("anonymous")


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def current() -> Identity:
    """The identity of this request (memoised on ``g``)."""
    if "identity" in g:
        return g.identity
    ident = ANONYMOUS
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        with state.db() as s:
            d = accounts.driver_for_token(s, header[7:].strip())
            if d is not None:
                ident = Identity("driver", d.ref, driver_id=d.id)
    elif session.get("user_id"):
        with state.db() as s:
            u = s.get(m.User, session["user_id"])
            if u is not None and u.active:
                ident = Identity(u.role, u.username, user_id=u.id)
    g.identity = ident
    return ident


def _check_csrf() -> None:
    if request.method not in UNSAFE:
        return
    if request.endpoint == "auth.login" or session.get("user_id"):
        sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
        want = session.get("csrf")
        if not want or not sent or not secrets.compare_digest(str(sent), str(want)):
            abort(403, description="missing or wrong CSRF token")


def require(*roles: str) -> Callable[[F], F]:
    """Only callers with one of ``roles`` (``staff`` = dispatcher or admin); 401 when nobody
    is signed in (pages redirect to the login), 403 for the wrong role."""
    wanted = set(roles)
    if "staff" in wanted:
        wanted |= {"dispatcher", "admin"}

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ident = current()
            if ident.role in wanted:
                return fn(*args, **kwargs)
            if ident.role == "anonymous":
                if not request.path.startswith("/api/"):
                    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
                abort(401, description="sign in (dispatchers) or send a device token (drivers)")
            abort(403, description=f"a {ident.role} may not do this")

        return wrapper  # type: ignore[return-value]

    return deco


def _safe_next(target: str | None) -> str:
    if not target:
        return "/"
    u = urlparse(target)
    return target if not u.scheme and not u.netloc and target.startswith("/") else "/"


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Sign-in form for dispatchers and admins."""
    error = ""
    if request.method == "POST":
        with state.db() as s:
            user = accounts.authenticate(
                s, request.form.get("username", ""), request.form.get("password", "")
            )
            uid = user.id if user else None
        if uid is not None:
            session.clear()
            session["user_id"] = uid
            csrf_token()
            return redirect(_safe_next(request.args.get("next")))
        error = "用户名或密码错误 / wrong username or password"
    return render_template("login.html", error=error, csrf=csrf_token()), 401 if error else 200


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.before_request(_check_csrf)
    app.context_processor(lambda: {"csrf_token": csrf_token, "identity": current})
    app.register_blueprint(bp)
