"""The scenario format: how an operator loads depots, stations, collection points, fleet
and bookings. See ``docs/scenario-format.md``.

Import is all-or-nothing: every record is validated (fields, materials, windows,
capacities, distance to the road network, district) before anything is written, and
every problem is reported with the record and the field it concerns.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapely.geometry import Point, shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import models as m
from dispatch.materials import MATERIALS
from road_rules.geo import gcj02_to_wgs84
from road_rules.hours import HoursError, parse_hours
from routing.speeds import PROFILES

FORMAT = "loopvan-scenario/1"
WEIGHT_CLASSES = ("mini", "light", "medium", "heavy")
FUELS = ("electric", "diesel", "petrol", "lng", "hybrid")

SnapCheck = Callable[[float, float], float]  # (lon, lat) -> metres to the nearest road


class ScenarioError(ValueError):
    """A scenario that cannot be imported; ``problems`` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"scenario refused, {len(problems)} problem(s):\n  {shown}{more}")


@dataclass(frozen=True)
class ImportSummary:
    """How many records of each kind were written."""

    counts: dict[str, int]


class _Checker:
    """Collects problems, each naming the record and the field."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, where: str, field: str, msg: str) -> None:
        self.problems.append(f"{where}: field '{field}': {msg}")

    def req(self, rec: dict[str, Any], where: str, field: str) -> Any:
        if not isinstance(rec, dict):
            self.problems.append(f"{where}: must be an object")
            return None
        key = field.rsplit(".", 1)[-1]  # "resident.name" is looked up as "name"
        if key not in rec or rec[key] is None or rec[key] == "":
            self.fail(where, field, "missing")
            return None
        return rec[key]

    def string(
        self, rec: dict[str, Any], where: str, field: str, *, optional: bool = False
    ) -> str | None:
        if optional and (
            not isinstance(rec, dict) or rec.get(field.rsplit(".", 1)[-1]) in (None, "")
        ):
            return None
        v = self.req(rec, where, field)
        if v is None:
            return None
        if not isinstance(v, str):
            self.fail(where, field, f"must be a string, got {v!r}")
            return None
        return v

    def number(
        self,
        rec: dict[str, Any],
        where: str,
        field: str,
        *,
        minimum: float = 0.0,
        integer: bool = False,
        default: float | None = None,
    ) -> float | None:
        if (
            default is not None
            and isinstance(rec, dict)
            and rec.get(field.rsplit(".", 1)[-1]) is None
        ):
            return default
        v = self.req(rec, where, field)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float):
            self.fail(where, field, f"must be a number, got {v!r}")
            return None
        if integer and int(v) != v:
            self.fail(where, field, f"must be a whole number, got {v!r}")
            return None
        if v < minimum:
            self.fail(where, field, f"must be >= {minimum:g}, got {v!r}")
            return None
        return v

    def clock(self, rec: dict[str, Any], where: str, field: str) -> dt.time | None:
        v = self.string(rec, where, field)
        if v is None:
            return None
        if v == "24:00":
            return dt.time(23, 59, 59)
        try:
            return dt.time.fromisoformat(v)
        except ValueError:
            self.fail(where, field, f"must be a time HH:MM, got {v!r}")
            return None

    def window(self, rec: dict[str, Any], where: str, field: str) -> tuple[dt.time, dt.time] | None:
        w = self.req(rec, where, field)
        if w is None:
            return None
        if not isinstance(w, dict):
            self.fail(where, field, "must be an object with 'start' and 'end'")
            return None
        a = self.clock(w, where, f"{field}.start")
        b = self.clock(w, where, f"{field}.end")
        if a is None or b is None:
            return None
        if b <= a:
            self.fail(where, field, f"ends ({b:%H:%M}) before it starts ({a:%H:%M})")
            return None
        return a, b

    def hours(self, rec: dict[str, Any], where: str, field: str) -> str | None:
        v = self.string(rec, where, field)
        if v is None:
            return None
        try:
            parse_hours(v)
        except HoursError as exc:
            self.fail(where, field, str(exc))
            return None
        return v

    def materials(self, values: Any, where: str, field: str) -> list[str]:
        if not isinstance(values, list) or not values:
            self.fail(where, field, "must be a non-empty list of materials")
            return []
        bad = [x for x in values if x not in MATERIALS]
        if bad:
            self.fail(where, field, f"unknown material(s) {bad}; known: {list(MATERIALS)}")
        return [x for x in values if x in MATERIALS]


def _where(section: str, i: int, rec: Any, key: str) -> str:
    ident = rec.get(key) if isinstance(rec, dict) else None
    return f"{section}[{i}]" + (f" ({key} {ident})" if ident else "")


def load_file(path: Path) -> dict[str, Any]:
    """Read a scenario JSON file.

    Raises
    ------
    ScenarioError
        When the file is missing or not JSON.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError([f"{path}: no such file"]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{path}: not valid JSON ({exc})"]) from exc
    if not isinstance(data, dict):
        raise ScenarioError([f"{path}: top level must be a JSON object"])
    return data


def import_scenario(
    session: Session,
    data: dict[str, Any],
    *,
    snap_distance: SnapCheck,
    max_snap_m: float = 500.0,
    gcj02: bool | None = None,
) -> ImportSummary:
    """Validate ``data`` completely, then write it in the caller's transaction.

    Parameters
    ----------
    snap_distance
        Returns the distance in metres from a WGS-84 point to the nearest usable road.
    gcj02
        Treat coordinates as GCJ-02 and convert them once to WGS-84. ``None`` reads
        the file's ``"coordinates"`` field (``"wgs84"`` by default).

    Raises
    ------
    ScenarioError
        Listing every problem found; nothing is written.
    """
    c = _Checker()
    fmt = data.get("format", FORMAT)
    if fmt != FORMAT:
        c.problems.append(f"scenario: field 'format': expected {FORMAT!r}, got {fmt!r}")
    coords = data.get("coordinates", "wgs84")
    if coords not in ("wgs84", "gcj02"):
        c.problems.append(
            f"scenario: field 'coordinates': must be 'wgs84' or 'gcj02', got {coords!r}"
        )
    use_gcj = (coords == "gcj02") if gcj02 is None else gcj02

    districts = list(session.scalars(select(m.District)))
    shapes = [(d, shape(d.boundary)) for d in districts]

    def place(rec: dict[str, Any], where: str) -> tuple[float, float, m.District | None] | None:
        lat = c.number(rec, where, "lat", minimum=-90)
        lon = c.number(rec, where, "lon", minimum=-180)
        if lat is None or lon is None:
            return None
        if lat > 90 or lon > 180:
            c.fail(where, "lat/lon", f"not a coordinate: ({lat}, {lon})")
            return None
        if use_gcj:
            lon, lat = gcj02_to_wgs84(lon, lat)
        dist = snap_distance(lon, lat)
        if dist > max_snap_m:
            c.fail(
                where,
                "lat/lon",
                f"({lat:.6f}, {lon:.6f}) is {dist:.0f} m from the nearest road "
                f"of the network (limit {max_snap_m:.0f} m)",
            )
            return None
        pt = Point(lon, lat)
        for d, shp in shapes:
            if shp.covers(pt):
                return lat, lon, d
        c.fail(where, "lat/lon", f"({lat:.6f}, {lon:.6f}) lies in no served district")
        return None

    def section(name: str) -> list[Any]:
        v = data.get(name, [])
        if not isinstance(v, list):
            c.problems.append(f"scenario: field '{name}': must be a list")
            return []
        return v

    def unique(name: str, recs: list[Any], key: str) -> set[str]:
        seen: set[str] = set()
        for i, r in enumerate(recs):
            k = r.get(key) if isinstance(r, dict) else None
            if isinstance(k, str) and k in seen:
                c.fail(_where(name, i, r, key), key, f"duplicate {key} {k!r}")
            if isinstance(k, str):
                seen.add(k)
        return seen

    default_date = data.get("date")
    row: dict[str, Any]

    # --- vehicle classes
    classes = section("vehicle_classes")
    class_codes = unique("vehicle_classes", classes, "code")
    class_codes |= set(session.scalars(select(m.VehicleClass.code)))
    vc_rows: list[dict[str, Any]] = []
    for i, r in enumerate(classes):
        w = _where("vehicle_classes", i, r, "code")
        row = {
            "code": c.string(r, w, "code"),
            "name": c.string(r, w, "name"),
            "weight_class": c.string(r, w, "weight_class"),
            "gross_weight_kg": c.number(r, w, "gross_weight_kg", minimum=1, integer=True),
            "fuel": c.string(r, w, "fuel"),
            "speed_profile": c.string(r, w, "speed_profile"),
            "tail_lift": bool(r.get("tail_lift", False)) if isinstance(r, dict) else False,
            "height_m": c.number(r, w, "height_m", minimum=0.5, default=2.8),
            "length_m": c.number(r, w, "length_m", minimum=1.0, default=6.0),
            "width_m": c.number(r, w, "width_m", minimum=0.5, default=2.1),
        }
        if row["weight_class"] and row["weight_class"] not in WEIGHT_CLASSES:
            c.fail(
                w,
                "weight_class",
                f"must be one of {list(WEIGHT_CLASSES)}, got {row['weight_class']!r}",
            )
        if row["fuel"] and row["fuel"] not in FUELS:
            c.fail(w, "fuel", f"must be one of {list(FUELS)}, got {row['fuel']!r}")
        if row["speed_profile"] and row["speed_profile"] not in PROFILES:
            c.fail(
                w,
                "speed_profile",
                f"unknown profile {row['speed_profile']!r}; known: {sorted(PROFILES)}",
            )
        vc_rows.append(row)

    # --- depots
    depots = section("depots")
    depot_ids = unique("depots", depots, "id") | set(session.scalars(select(m.Depot.ref)))
    depot_rows: list[Any] = []
    for i, r in enumerate(depots):
        w = _where("depots", i, r, "id")
        row = {"ref": c.string(r, w, "id"), "name": c.string(r, w, "name")}
        depot_rows.append((row, place(r, w)))

    # --- transfer stations
    stations = section("transfer_stations")
    unique("transfer_stations", stations, "id")
    st_rows: list[Any] = []
    for i, r in enumerate(stations):
        w = _where("transfer_stations", i, r, "id")
        row = {
            "ref": c.string(r, w, "id"),
            "name": c.string(r, w, "name"),
            "opening_hours": c.hours(r, w, "opening_hours"),
            "accepts": c.materials(r.get("accepts") if isinstance(r, dict) else None, w, "accepts"),
            "unload_minutes": c.number(r, w, "unload_minutes", minimum=1, integer=True),
            "daily_intake_kg": c.number(r, w, "daily_intake_kg", minimum=1, integer=True),
        }
        st_rows.append((row, place(r, w)))

    # --- collection points
    points = section("collection_points")
    unique("collection_points", points, "id")
    cp_rows: list[Any] = []
    for i, r in enumerate(points):
        w = _where("collection_points", i, r, "id")
        row = {
            "ref": c.string(r, w, "id"),
            "name": c.string(r, w, "name"),
            "compound": c.string(r, w, "compound"),
            "households": c.number(r, w, "households", minimum=1, integer=True),
            "stationing_hours": c.hours(r, w, "stationing_hours"),
            "dwell_minutes": c.number(r, w, "dwell_minutes", minimum=1, integer=True),
            "expected_kg": c.number(r, w, "expected_kg", minimum=0, integer=True),
            "expected_m3": c.number(r, w, "expected_m3", minimum=0),
        }
        cp_rows.append((row, place(r, w)))

    # --- vehicles
    vehicles = section("vehicles")
    plates = unique("vehicles", vehicles, "plate") | set(session.scalars(select(m.Vehicle.plate)))
    v_rows: list[Any] = []
    for i, r in enumerate(vehicles):
        w = _where("vehicles", i, r, "plate")
        row = {
            "plate": c.string(r, w, "plate"),
            "class": c.string(r, w, "class"),
            "depot": c.string(r, w, "depot"),
            "capacity_kg": c.number(r, w, "capacity_kg", minimum=0, integer=True),
            "capacity_m3": c.number(r, w, "capacity_m3", minimum=0),
            "shift": c.window(r, w, "shift"),
            "permits": r.get("permits", []) if isinstance(r, dict) else [],
        }
        if row["class"] and row["class"] not in class_codes:
            c.fail(w, "class", f"unknown vehicle class {row['class']!r}")
        if row["depot"] and row["depot"] not in depot_ids:
            c.fail(w, "depot", f"unknown depot {row['depot']!r}")
        brk = r.get("break") if isinstance(r, dict) else None
        row["break"] = None
        if brk is not None:
            bw = c.window(r, w, "break")
            mins = (
                c.number(brk, w, "break.minutes", minimum=1, integer=True)
                if isinstance(brk, dict)
                else None
            )
            if bw and mins:
                row["break"] = (bw[0], bw[1], int(mins))
        if not isinstance(row["permits"], list):
            c.fail(w, "permits", "must be a list of permit ids")
        v_rows.append(row)

    # --- drivers
    drivers = section("drivers")
    unique("drivers", drivers, "id")
    d_rows: list[Any] = []
    for i, r in enumerate(drivers):
        w = _where("drivers", i, r, "id")
        row = {
            "ref": c.string(r, w, "id"),
            "name": c.string(r, w, "name"),
            "phone": c.string(r, w, "phone"),
            "vehicle": c.string(r, w, "vehicle", optional=True),
        }
        if row["vehicle"] and row["vehicle"] not in plates:
            c.fail(w, "vehicle", f"unknown vehicle plate {row['vehicle']!r}")
        d_rows.append(row)

    # --- bookings
    bookings = section("bookings")
    unique("bookings", bookings, "reference")
    b_rows: list[Any] = []
    for i, r in enumerate(bookings):
        w = _where("bookings", i, r, "reference")
        resident = r.get("resident") if isinstance(r, dict) else None
        if not isinstance(resident, dict):
            c.fail(w, "resident", "missing (an object with 'name' and 'phone')")
            resident = {}
        row = {
            "reference": c.string(r, w, "reference"),
            "resident_name": c.string(resident, w, "resident.name"),
            "resident_phone": c.string(resident, w, "resident.phone"),
            "address": c.string(r, w, "address"),
            "window": c.window(r, w, "window"),
            "priority": c.number(r, w, "priority", minimum=0, integer=True, default=0),
        }
        ds = r.get("date", default_date) if isinstance(r, dict) else None
        try:
            row["date"] = dt.date.fromisoformat(ds) if isinstance(ds, str) else None
            if row["date"] is None:
                c.fail(w, "date", "missing (and the scenario has no default 'date')")
        except ValueError:
            c.fail(w, "date", f"must be YYYY-MM-DD, got {ds!r}")
            row["date"] = None
        items = r.get("materials") if isinstance(r, dict) else None
        mats = []
        if not isinstance(items, list) or not items:
            c.fail(w, "materials", "must be a non-empty list of {material, kg, m3}")
        else:
            for j, it in enumerate(items):
                fw = f"materials[{j}]"
                if not isinstance(it, dict):
                    c.fail(w, fw, "must be an object")
                    continue
                mat = it.get("material")
                if mat not in MATERIALS:
                    c.fail(
                        w, f"{fw}.material", f"unknown material {mat!r}; known: {list(MATERIALS)}"
                    )
                kg = c.number(it, w, f"{fw}.kg", minimum=0)
                m3 = c.number(it, w, f"{fw}.m3", minimum=0, default=0.0)
                if kg is not None and kg > 500:
                    c.fail(
                        w, f"{fw}.kg", f"{kg} kg exceeds the 500 kg a door-to-door pickup may hold"
                    )
                mats.append({"material": mat, "kg": kg, "m3": m3})
        row["materials"] = mats
        b_rows.append((row, place(r, w)))

    if c.problems:
        raise ScenarioError(c.problems)

    # --- all valid: write, updating records whose ref already exists
    counts: dict[str, int] = {}

    def upsert(model: type[Any], key: str, values: dict[str, Any]) -> Any:
        obj = session.scalar(select(model).where(getattr(model, key) == values[key]))
        if obj is None:
            obj = model(**values)
            session.add(obj)
        else:
            for k, v in values.items():
                setattr(obj, k, v)
        counts[model.__tablename__] = counts.get(model.__tablename__, 0) + 1
        return obj

    for row in vc_rows:
        upsert(m.VehicleClass, "code", row)
    for row, pl in depot_rows:
        assert pl is not None and pl[2] is not None
        upsert(m.Depot, "ref", {**row, "lat": pl[0], "lon": pl[1], "district_id": pl[2].id})
    for row, pl in st_rows:
        assert pl is not None and pl[2] is not None
        upsert(
            m.TransferStation, "ref", {**row, "lat": pl[0], "lon": pl[1], "district_id": pl[2].id}
        )
    for row, pl in cp_rows:
        assert pl is not None and pl[2] is not None
        upsert(
            m.CollectionPoint, "ref", {**row, "lat": pl[0], "lon": pl[1], "district_id": pl[2].id}
        )
    session.flush()
    cls_by_code = {vc.code: vc for vc in session.scalars(select(m.VehicleClass))}
    depot_by_ref = {d.ref: d for d in session.scalars(select(m.Depot))}
    for row in v_rows:
        brk = row["break"]
        upsert(
            m.Vehicle,
            "plate",
            {
                "plate": row["plate"],
                "class_id": cls_by_code[row["class"]].id,
                "depot_id": depot_by_ref[row["depot"]].id,
                "capacity_kg": row["capacity_kg"],
                "capacity_m3": row["capacity_m3"],
                "shift_start": row["shift"][0],
                "shift_end": row["shift"][1],
                "break_start": brk[0] if brk else None,
                "break_end": brk[1] if brk else None,
                "break_minutes": brk[2] if brk else 0,
                "permits": row["permits"],
            },
        )
    session.flush()
    veh_by_plate = {v.plate: v for v in session.scalars(select(m.Vehicle))}
    for row in d_rows:
        upsert(
            m.Driver,
            "ref",
            {
                "ref": row["ref"],
                "name": row["name"],
                "phone": row["phone"],
                "vehicle_id": veh_by_plate[row["vehicle"]].id if row["vehicle"] else None,
            },
        )
    for row, pl in b_rows:
        assert pl is not None and pl[2] is not None
        mats = row["materials"]
        upsert(
            m.Booking,
            "reference",
            {
                "reference": row["reference"],
                "resident_name": row["resident_name"],
                "resident_phone": row["resident_phone"],
                "address": row["address"],
                "lat": pl[0],
                "lon": pl[1],
                "district_id": pl[2].id,
                "materials": mats,
                "est_kg": float(sum(x["kg"] for x in mats)),
                "est_m3": float(sum(x["m3"] for x in mats)),
                "date": row["date"],
                "window_start": row["window"][0],
                "window_end": row["window"][1],
                "priority": int(row["priority"]),
                "status": "queued",
            },
        )
    session.add(
        m.AuditLog(
            actor="import",
            action="scenario.import",
            entity="scenario",
            entity_id="-",
            detail={"counts": counts, "coordinates": "gcj02" if use_gcj else "wgs84"},
        )
    )
    session.flush()
    return ImportSummary(counts)


def ensure_districts(session: Session, geojson_path: Path) -> int:
    """Load district polygons from a GeoJSON file if the table is empty; return the count."""
    existing = session.scalar(select(m.District.id).limit(1))
    if existing is not None:
        return len(list(session.scalars(select(m.District.id))))
    fc = json.loads(Path(geojson_path).read_text(encoding="utf-8"))
    n = 0
    for f in fc["features"]:
        p = f["properties"]
        code = p.get("code") or p["name_en"].lower()
        session.add(
            m.District(
                code=code, name_zh=p["name_zh"], name_en=p["name_en"], boundary=f["geometry"]
            )
        )
        n += 1
    session.flush()
    return n
