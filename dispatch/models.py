"""SQLAlchemy 2.0 typed models: the whole of Loopvan's stored state.

Times of day are ``Time``; planned times on routes are integer seconds after
midnight of the plan date in local time (Asia/Shanghai, +08:00, no DST), which is
what the solver works in; exports turn them into ISO-8601 with offset.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def as_utc(t: dt.datetime | None) -> str | None:
    """A stored time as ISO-8601 in UTC (SQLite hands times back without their offset)."""
    if t is None:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).isoformat()


def utcnow() -> dt.datetime:
    """Timezone-aware now in UTC."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with JSON mapped to SQL JSON on every backend."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class District(Base):
    __tablename__ = "districts"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    boundary: Mapped[dict[str, Any]] = mapped_column(JSON)  # GeoJSON geometry, WGS-84


class Depot(Base):
    __tablename__ = "depots"
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    district: Mapped[District] = relationship()


class TransferStation(Base):
    __tablename__ = "transfer_stations"
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    opening_hours: Mapped[str] = mapped_column(String(255))  # OSM opening_hours syntax
    accepts: Mapped[list[Any]] = mapped_column(JSON)  # material codes
    unload_minutes: Mapped[int] = mapped_column(Integer)
    daily_intake_kg: Mapped[int] = mapped_column(Integer)


class CollectionPoint(Base):
    __tablename__ = "collection_points"
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    compound: Mapped[str] = mapped_column(String(128))
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    households: Mapped[int] = mapped_column(Integer)
    stationing_hours: Mapped[str] = mapped_column(String(255))  # opening_hours syntax
    dwell_minutes: Mapped[int] = mapped_column(Integer)
    expected_kg: Mapped[int] = mapped_column(Integer)
    expected_m3: Mapped[float] = mapped_column(Float)


class VehicleClass(Base):
    __tablename__ = "vehicle_classes"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    weight_class: Mapped[str] = mapped_column(String(16))  # mini / light / medium / heavy
    gross_weight_kg: Mapped[int] = mapped_column(Integer)
    fuel: Mapped[str] = mapped_column(String(16))  # electric / diesel / petrol / lng / hybrid
    speed_profile: Mapped[str] = mapped_column(String(32))
    tail_lift: Mapped[bool] = mapped_column(Boolean, default=False)
    height_m: Mapped[float] = mapped_column(Float, default=2.8, server_default="2.8")
    length_m: Mapped[float] = mapped_column(Float, default=6.0, server_default="6.0")
    width_m: Mapped[float] = mapped_column(Float, default=2.1, server_default="2.1")


class Vehicle(Base):
    __tablename__ = "vehicles"
    id: Mapped[int] = mapped_column(primary_key=True)
    plate: Mapped[str] = mapped_column(String(16), unique=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("vehicle_classes.id"))
    depot_id: Mapped[int] = mapped_column(ForeignKey("depots.id"))
    capacity_kg: Mapped[int] = mapped_column(Integer)
    capacity_m3: Mapped[float] = mapped_column(Float)
    shift_start: Mapped[dt.time] = mapped_column(Time)
    shift_end: Mapped[dt.time] = mapped_column(Time)
    break_start: Mapped[dt.time | None] = mapped_column(Time, nullable=True)
    break_end: Mapped[dt.time | None] = mapped_column(Time, nullable=True)
    break_minutes: Mapped[int] = mapped_column(Integer, default=0)
    permits: Mapped[list[Any]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    vehicle_class: Mapped[VehicleClass] = relationship()
    depot: Mapped[Depot] = relationship()


class Driver(Base):
    __tablename__ = "drivers"
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(32))
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"), nullable=True)
    device_token_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)


class Booking(Base):
    __tablename__ = "bookings"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    resident_name: Mapped[str] = mapped_column(String(64))
    resident_phone: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(255))
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    materials: Mapped[list[Any]] = mapped_column(JSON)  # [{"material", "kg", "m3"}]
    est_kg: Mapped[float] = mapped_column(Float)
    est_m3: Mapped[float] = mapped_column(Float)
    date: Mapped[dt.date] = mapped_column(Date, index=True)
    window_start: Mapped[dt.time] = mapped_column(Time)
    window_end: Mapped[dt.time] = mapped_column(Time)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    district: Mapped[District] = relationship()


class BookingEvent(Base):
    """One status change of a booking: the history residents and dispatchers see."""

    __tablename__ = "booking_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")


class RouteVersion(Base):
    """A published route as sent to the driver's tablet (immutable once written)."""

    __tablename__ = "route_versions"
    __table_args__ = (UniqueConstraint("route_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("routes.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_by: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class Plan(Base):
    __tablename__ = "plans"
    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    date: Mapped[dt.date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    published_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    solver_stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    facilities: Mapped[list[Any]] = mapped_column(JSON, default=list)  # stations as planned
    district: Mapped[District] = relationship()
    routes: Mapped[list[Route]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="Route.id"
    )
    unassigned: Mapped[list[UnassignedStop]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="UnassignedStop.id"
    )


class Route(Base):
    __tablename__ = "routes"
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    distance_m: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[int] = mapped_column(Integer)
    plan: Mapped[Plan] = relationship(back_populates="routes")
    vehicle: Mapped[Vehicle] = relationship()
    stops: Mapped[list[Stop]] = relationship(
        back_populates="route", cascade="all, delete-orphan", order_by="Stop.sequence"
    )


class Stop(Base):
    __tablename__ = "stops"
    __table_args__ = (UniqueConstraint("route_id", "sequence"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("routes.id", ondelete="CASCADE"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # depot / station / pickup / unload
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), nullable=True)
    collection_point_id: Mapped[int | None] = mapped_column(
        ForeignKey("collection_points.id"), nullable=True
    )
    transfer_station_id: Mapped[int | None] = mapped_column(
        ForeignKey("transfer_stations.id"), nullable=True
    )
    depot_id: Mapped[int | None] = mapped_column(ForeignKey("depots.id"), nullable=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    node: Mapped[int] = mapped_column(BigInteger)  # OSM node id the stop snapped next to
    arrival_s: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[int] = mapped_column(Integer)
    departure_s: Mapped[int] = mapped_column(Integer)
    load_kg: Mapped[int] = mapped_column(Integer)
    load_m3: Mapped[float] = mapped_column(Float)
    windows: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [[start_s, end_s], ...]
    leg: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # road path into this stop
    route: Mapped[Route] = relationship(back_populates="stops")
    booking: Mapped[Booking | None] = relationship()
    collection_point: Mapped[CollectionPoint | None] = relationship()
    transfer_station: Mapped[TransferStation | None] = relationship()


class UnassignedStop(Base):
    __tablename__ = "unassigned_stops"
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # pickup / station
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), nullable=True)
    collection_point_id: Mapped[int | None] = mapped_column(
        ForeignKey("collection_points.id"), nullable=True
    )
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    plan: Mapped[Plan] = relationship(back_populates="unassigned")
    booking: Mapped[Booking | None] = relationship()
    collection_point: Mapped[CollectionPoint | None] = relationship()


class StopEvent(Base):
    __tablename__ = "stop_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_event_id: Mapped[str] = mapped_column(String(64), unique=True)
    stop_id: Mapped[int] = mapped_column(ForeignKey("stops.id"), index=True)
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"), nullable=True)
    kind: Mapped[str] = mapped_column(
        String(16)
    )  # arrived / collected / skipped / unloaded / break
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # kg per material, reason
    stop: Mapped[Stop] = relationship()


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PlanJob(Base):
    """One requested district solve, run by a worker (a local process or a Celery worker).

    ``key`` is unique, and the job's plan is stored in the same transaction that marks it
    done, guarded by ``status != 'done'``: a task delivered twice (a worker killed
    mid-solve, a redelivery while the first copy still runs) yields one plan, never two.
    """

    __tablename__ = "plan_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(96), unique=True)
    district_code: Mapped[str] = mapped_column(String(32))
    date: Mapped[dt.date] = mapped_column(Date, index=True)
    seconds: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued/running/done/failed
    backend: Mapped[str] = mapped_column(String(16))  # local / celery
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str] = mapped_column(String(128), default="")
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class TemporaryRule(Base):
    """A dispatcher's temporary road rule (a closure for some hours), in rule-file form.

    ``rule`` is one entry of a rule file (see docs/road-rules.md) with ``valid_from`` and
    ``valid_to`` set, so it binds only on its day; planning, edits and the legality replay
    read it with the district's rule files.
    """

    __tablename__ = "temporary_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    district: Mapped[District] = relationship()


class User(Base):
    """A dispatcher or administrator who signs in to the web app."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))  # dispatcher / admin
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
