"""Accounts: dispatchers and admins (hashed passwords), drivers' device tokens, and the
resident's proof of a booking (its reference with the phone number it was made with)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from dispatch import models as m
from dispatch.errors import Conflict, InvalidInput, NotFound

ROLES = ("dispatcher", "admin")
MIN_PASSWORD = 10


def create_user(session: Session, username: str, password: str, role: str) -> m.User:
    """Add a dispatcher or admin; the password is stored as a salted scrypt hash.

    Raises
    ------
    InvalidInput
        A bad username, a short password or an unknown role (named).
    Conflict
        The username is taken.
    """
    p: dict[str, str] = {}
    name = str(username or "").strip()
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        p["username"] = "1-64 letters, digits, '-' or '_'"
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        p["password"] = f"at least {MIN_PASSWORD} characters"
    if role not in ROLES:
        p["role"] = f"must be one of {list(ROLES)}, got {role!r}"
    if p:
        raise InvalidInput(p)
    if session.scalar(select(m.User).where(m.User.username == name)) is not None:
        raise Conflict(f"user {name!r} exists")
    user = m.User(username=name, password_hash=generate_password_hash(password), role=role)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> m.User | None:
    """The active user with these credentials, or ``None`` (same answer either way)."""
    user = session.scalar(select(m.User).where(m.User.username == str(username or "").strip()))
    if user is None or not user.active:
        check_password_hash(generate_password_hash("x"), str(password))  # even out timing
        return None
    return user if check_password_hash(user.password_hash, str(password or "")) else None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_device_token(session: Session, driver_ref: str) -> str:
    """A new device token for a driver's tablet (shown once; only its hash is kept).

    Raises
    ------
    NotFound
        No such driver.
    """
    driver = session.scalar(select(m.Driver).where(m.Driver.ref == driver_ref))
    if driver is None:
        raise NotFound(f"no driver {driver_ref!r}")
    token = f"lvd_{secrets.token_urlsafe(24)}"
    driver.device_token_hash = _token_hash(token)
    session.flush()
    return token


def driver_for_token(session: Session, token: str) -> m.Driver | None:
    """The driver a device token is bound to."""
    if not token or not token.startswith("lvd_"):
        return None
    return session.scalar(select(m.Driver).where(m.Driver.device_token_hash == _token_hash(token)))


def _digits(phone: str) -> str:
    return "".join(c for c in str(phone or "") if c.isdigit())


def booking_for_resident(session: Session, reference: str, phone: str) -> m.Booking:
    """The booking when ``phone`` is the number it was made with (last 11 digits compared).

    Raises
    ------
    NotFound
        Unknown reference or another phone: the same answer, so references cannot be probed.
    """
    b = session.scalar(select(m.Booking).where(m.Booking.reference == str(reference or "")))
    if (
        b is None
        or not _digits(phone)
        or not hmac.compare_digest(_digits(b.resident_phone)[-11:], _digits(phone)[-11:])
    ):
        raise NotFound(f"no booking {reference!r} for this phone number")
    return b
