"""Bookings: create (idempotent), validate, cancel, and the status history.

Statuses: requested -> queued -> planned -> dispatched -> collected / missed / cancelled.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

from shapely import prepare
from shapely.geometry import Point, shape
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch import models as m
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.materials import MATERIALS
from road_rules.geo import gcj02_to_wgs84

SnapCheck = Callable[[float, float], float]  # (lon, lat) -> metres to the nearest usable road

MAX_ITEM_KG = 500.0
MAX_TOTAL_KG = 1000.0
MAX_M3 = 5.0
SERVICE_HOURS = (dt.time(7, 0), dt.time(20, 0))
MIN_WINDOW = dt.timedelta(hours=1)
HORIZON_DAYS = 14
CANCELLABLE = ("requested", "queued", "planned")
STATUSES = ("requested", "queued", "planned", "dispatched", "collected", "missed", "cancelled")


#: Reference characters residents read out on the phone: no 0/O, 1/I/L.
_REF_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def _reference(day: dt.date) -> str:
    """A booking reference such as ``BK-261201-7KQ4MZ``."""
    return f"BK-{day:%y%m%d}-{''.join(secrets.choice(_REF_ALPHABET) for _ in range(6))}"


def _time(v: Any) -> dt.time | None:
    """A local time of day ``HH:MM[:SS]``; a time with a UTC offset is not one."""
    try:
        t = dt.time.fromisoformat(str(v))
    except ValueError:
        return None
    return t if t.tzinfo is None else None


def validate(
    data: dict[str, Any],
    *,
    today: dt.date,
    session: Session,
    snap_distance: SnapCheck,
    max_snap_m: float = 500.0,
    same_day: bool = False,
    now: dt.time | None = None,
) -> dict[str, Any]:
    """Check a booking request; return the cleaned fields or raise :class:`InvalidInput`.

    ``same_day`` admits today's date: an urgent booking a dispatcher adds for intraday
    re-planning (its window must not be over by ``now``, local time, when given).
    Residents book from tomorrow on.
    """
    p: dict[str, str] = {}
    out: dict[str, Any] = {}
    if not isinstance(data, dict):
        raise InvalidInput({"body": "must be a JSON object"})
    res = data.get("resident")
    if not isinstance(res, dict) or not str(res.get("name", "")).strip():
        p["resident.name"] = "missing"
    if not isinstance(res, dict) or not str(res.get("phone", "")).strip():
        p["resident.phone"] = "missing"
    elif not str(res["phone"]).replace("+", "").replace("-", "").replace(" ", "").isdigit():
        p["resident.phone"] = f"not a phone number: {res['phone']!r}"
    out["resident_name"] = str((res or {}).get("name", "")).strip() if isinstance(res, dict) else ""
    out["resident_phone"] = (
        str((res or {}).get("phone", "")).strip() if isinstance(res, dict) else ""
    )
    out["address"] = str(data.get("address", "")).strip()
    if not out["address"]:
        p["address"] = "missing"
    mats = data.get("materials")
    items = []
    if not isinstance(mats, list) or not mats:
        p["materials"] = "must be a non-empty list of {material, kg, m3}"
    else:
        for i, it in enumerate(mats):
            f = f"materials[{i}]"
            if not isinstance(it, dict):
                p[f] = "must be an object"
                continue
            mat = it.get("material")
            if mat not in MATERIALS:
                p[f"{f}.material"] = f"unknown material {mat!r}; known: {list(MATERIALS)}"
            kg = it.get("kg")
            if isinstance(kg, bool) or not isinstance(kg, int | float) or not 0 < kg <= MAX_ITEM_KG:
                p[f"{f}.kg"] = f"must be a number of kg in (0, {MAX_ITEM_KG:g}], got {kg!r}"
            m3 = it.get("m3", 0.0)
            if isinstance(m3, bool) or not isinstance(m3, int | float) or not 0 <= m3 <= MAX_M3:
                p[f"{f}.m3"] = f"must be a number of m³ in [0, {MAX_M3:g}], got {m3!r}"
            items.append({"material": mat, "kg": kg, "m3": m3})
    if items and not p.get("materials"):
        total = sum(float(x["kg"]) for x in items if isinstance(x["kg"], int | float))
        if total > MAX_TOTAL_KG:
            p["materials"] = (
                f"{total:g} kg in all is more than one pickup may hold ({MAX_TOTAL_KG:g} kg)"
            )
    out["materials"] = items
    day = None
    try:
        day = dt.date.fromisoformat(str(data.get("date")))
    except ValueError:
        p["date"] = f"must be YYYY-MM-DD, got {data.get('date')!r}"
    first = today if same_day else today + dt.timedelta(days=1)
    if day is not None and not first <= day <= today + dt.timedelta(days=HORIZON_DAYS):
        what = "today" if same_day else "tomorrow"
        p["date"] = f"must be between {what} and {HORIZON_DAYS} days ahead, got {day}"
    out["date"] = day
    raw_w = data.get("window")
    w: dict[str, Any] = raw_w if isinstance(raw_w, dict) else {}
    a, b = _time(w.get("start")), _time(w.get("end"))
    if a is None or b is None:
        p["window"] = "must be {start: HH:MM, end: HH:MM}"
    elif b <= a:
        p["window"] = f"ends ({b:%H:%M}) before it starts ({a:%H:%M})"
    elif a < SERVICE_HOURS[0] or b > SERVICE_HOURS[1]:
        p["window"] = f"must lie within {SERVICE_HOURS[0]:%H:%M}–{SERVICE_HOURS[1]:%H:%M}"
    elif dt.datetime.combine(today, b) - dt.datetime.combine(today, a) < MIN_WINDOW:
        p["window"] = "must be at least one hour long"
    elif now is not None and day == today and b <= now:
        p["window"] = f"ends at {b:%H:%M}, which has passed today (it is {now:%H:%M})"
    out["window"] = (a, b)
    lat, lon = data.get("lat"), data.get("lon")
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in (lat, lon)):
        p["lat/lon"] = "missing or not numbers"
    else:
        assert isinstance(lat, int | float) and isinstance(lon, int | float)
        if data.get("coordinates", "wgs84") == "gcj02":
            lon, lat = gcj02_to_wgs84(float(lon), float(lat))
        district = _served_district(session, float(lon), float(lat))
        if district is None:
            p["lat/lon"] = f"({lat:.6f}, {lon:.6f}) is not in a district Loopvan serves"
        else:
            d = snap_distance(float(lon), float(lat))
            if d > max_snap_m:
                p["lat/lon"] = (
                    f"({lat:.6f}, {lon:.6f}) is {d:.0f} m from the nearest road a van can use"
                )
            out["district_id"] = district.id
        out["lat"], out["lon"] = float(lat), float(lon)
    prio = data.get("priority", 0)
    if isinstance(prio, bool) or not isinstance(prio, int) or not 0 <= prio <= 9:
        p["priority"] = f"must be an integer 0..9, got {prio!r}"
    out["priority"] = prio
    key = data.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 8 <= len(key) <= 128):
        p["idempotency_key"] = "must be a string of 8 to 128 characters"
    out["idempotency_key"] = key
    if p:
        raise InvalidInput(p)
    return out


#: (database URL, district id) -> prepared polygon. Boundaries come from the bundled
#: district polygons and are only ever loaded, never edited, so they are read once.
_SHAPES: dict[tuple[str, int], Any] = {}


def _served_district(session: Session, lon: float, lat: float) -> m.District | None:
    served = select(m.Depot.district_id).distinct()
    pt = Point(lon, lat)
    bind = session.get_bind()
    url = str(bind.engine.url)
    for did in session.scalars(select(m.District.id).where(m.District.id.in_(served))):
        key = (url, did)
        if key not in _SHAPES:
            poly = shape(session.get_one(m.District, did).boundary)
            prepare(poly)
            _SHAPES[key] = poly
        if _SHAPES[key].covers(pt):
            return session.get(m.District, did)
    return None


def _record(session: Session, b: m.Booking, to: str, actor: str, note: str = "") -> None:
    session.add(
        m.BookingEvent(
            booking_id=b.id,
            from_status=b.status if b.id else None,
            to_status=to,
            actor=actor,
            note=note,
        )
    )
    b.status = to


def create_booking(
    session: Session,
    data: dict[str, Any],
    *,
    today: dt.date,
    snap_distance: SnapCheck,
    actor: str = "resident",
    same_day: bool = False,
    now: dt.time | None = None,
) -> tuple[m.Booking, bool]:
    """Validate and store a booking; ``(booking, created)``.

    A request repeating an idempotency key returns the booking first made with it
    (``created`` False), even when two such requests race.
    """
    key = data.get("idempotency_key") if isinstance(data, dict) else None
    if isinstance(key, str):
        found = session.scalar(select(m.Booking).where(m.Booking.idempotency_key == key))
        if found is not None:
            return found, False
    clean = validate(
        data, today=today, session=session, snap_distance=snap_distance, same_day=same_day,
        now=now,
    )  # fmt: skip
    a, b = clean["window"]
    booking = m.Booking(
        reference=_reference(clean["date"]),
        idempotency_key=clean["idempotency_key"],
        resident_name=clean["resident_name"],
        resident_phone=clean["resident_phone"],
        address=clean["address"],
        district_id=clean["district_id"],
        lat=clean["lat"],
        lon=clean["lon"],
        materials=clean["materials"],
        est_kg=float(sum(x["kg"] for x in clean["materials"])),
        est_m3=float(sum(x["m3"] for x in clean["materials"])),
        date=clean["date"],
        window_start=a,
        window_end=b,
        status="requested",
        priority=clean["priority"],
    )
    for _attempt in range(5):
        try:
            with session.begin_nested():  # a savepoint: a lost race rolls back only this insert
                session.add(booking)
                session.flush()
                session.add(
                    m.BookingEvent(
                        booking_id=booking.id, from_status=None, to_status="requested", actor=actor
                    )
                )
                session.add(
                    m.BookingEvent(
                        booking_id=booking.id,
                        from_status="requested",
                        to_status="queued",
                        actor="system",
                        note="validated",
                    )
                )
                booking.status = "queued"
                session.flush()
            break
        except IntegrityError:
            found = (
                session.scalar(select(m.Booking).where(m.Booking.idempotency_key == key))
                if key
                else None
            )
            if found is not None:
                return found, False
            taken = session.scalar(
                select(m.Booking.id).where(m.Booking.reference == booking.reference)
            )
            if taken is None:
                raise
            booking.reference = _reference(clean["date"])  # a rare clash: draw again
            booking.status = "requested"
    else:
        raise Conflict("could not draw a free booking reference; try again")
    return booking, True


def get_booking(session: Session, reference: str) -> m.Booking:
    """The booking with this reference.

    Raises
    ------
    NotFound
    """
    b = session.scalar(select(m.Booking).where(m.Booking.reference == reference))
    if b is None:
        raise NotFound(f"no booking {reference!r}")
    return b


def cancel_booking(session: Session, reference: str, *, actor: str, reason: str = "") -> m.Booking:
    """Cancel a booking that has not yet gone out to a driver.

    Raises
    ------
    NotFound, Conflict
    """
    b = get_booking(session, reference)
    if b.status not in CANCELLABLE:
        raise Conflict(f"booking {reference} is {b.status}: it can no longer be cancelled")
    _record(session, b, "cancelled", actor, reason)
    session.flush()
    return b


def history(session: Session, reference: str) -> list[dict[str, Any]]:
    """The booking's status changes, oldest first."""
    b = get_booking(session, reference)
    rows = session.scalars(
        select(m.BookingEvent).where(m.BookingEvent.booking_id == b.id).order_by(m.BookingEvent.id)
    )
    return [
        {
            "at": m.as_utc(e.at),
            "from": e.from_status,
            "to": e.to_status,
            "actor": e.actor,
            "note": e.note,
        }
        for e in rows
    ]


def set_status(session: Session, b: m.Booking, to: str, *, actor: str, note: str = "") -> None:
    """Move a booking to ``to`` and record it (no-op when already there)."""
    if to not in STATUSES:
        raise ValueError(f"unknown booking status {to!r}")
    if b.status != to:
        _record(session, b, to, actor, note)
