"""Carbon balance of plans and periods (issue #6, item 7): the vans' emissions against the
emissions avoided by recycling what they collect.

Vehicle emissions are planned route kilometres x energy per km (by fuel and weight class)
x CO2 per unit of energy; avoided emissions are kilograms per material x the EPA WARM
"recycling instead of landfilling" factor. Both factor sets, with their sources, are in
``dispatch/data/carbon_factors.yaml``; docs/carbon.md explains the method.

A plan is balanced on what drivers recorded once it has started (``in_progress`` or
``completed``) or has any collection event; before that, on its planned load.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import models as m
from dispatch.errors import InvalidInput, NotFound
from dispatch.execution import collected_totals
from dispatch.materials import MATERIALS
from road_rules.model import FUELS, WEIGHT_CLASSES

DEFAULT_FACTORS = Path(__file__).resolve().parent / "data" / "carbon_factors.yaml"

#: One short ton (2,000 lb) in kilograms, exactly; WARM factors are per short ton.
KG_PER_SHORT_TON = 907.18474

#: Bucket for planned kilograms without a material split (collection points).
UNSORTED = "unsorted"

#: Plan statuses that count in a period balance.
PERIOD_STATUSES = ("published", "in_progress", "completed")

#: Plan statuses from which the balance uses the drivers' records.
RECORDED_STATUSES = ("in_progress", "completed")

_WARM_TOLERANCE = 0.0005  # the file's kg/kg values are rounded to three decimals


class CarbonFactorError(ValueError):
    """A factor file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Factor:
    """One documented factor."""

    value: float
    unit: str
    source: str
    note: str


@dataclass(frozen=True)
class Consumption:
    """Energy carrier per 100 km for one fuel, by weight class."""

    unit: str
    per_weight_class: Mapping[str, float]
    source: str
    note: str


@dataclass(frozen=True)
class Factors:
    """The loaded factor file."""

    version: str
    path: str
    fuels: Mapping[str, Factor]  # kg CO2 per L / kg / kWh
    consumption: Mapping[str, Consumption]  # L / kg / kWh per 100 km
    materials: Mapping[str, Factor]  # kg CO2e avoided per kg

    def per_km(self, fuel: str, weight_class: str) -> float:
        """kg CO2 per vehicle-km for a fuel and weight class."""
        f = self.fuels.get(fuel)
        c = self.consumption.get(fuel)
        if f is None or c is None or weight_class not in c.per_weight_class:
            raise CarbonFactorError(
                f"{self.path}: no emission factor for fuel {fuel!r}, weight class {weight_class!r}"
            )
        return c.per_weight_class[weight_class] / 100.0 * f.value

    def avoided_per_kg(self, material: str) -> float:
        """kg CO2e avoided per kg of a material; 0 for a material with no entry."""
        f = self.materials.get(material)
        return f.value if f is not None else 0.0


# --------------------------------------------------------------------------- loading


def _mapping(v: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise CarbonFactorError(f"{where}: must be a mapping, got {type(v).__name__}")
    return v


def _signed(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise CarbonFactorError(f"{where}: must be a number, got {v!r}")
    return float(v)


def _number(v: Any, where: str, *, positive: bool = False) -> float:
    v = _signed(v, where)
    if v < 0 or (positive and v == 0):
        raise CarbonFactorError(f"{where}: must be {'> 0' if positive else '>= 0'}, got {v!r}")
    return float(v)


def _text(v: Any, where: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise CarbonFactorError(f"{where}: must be a non-empty text")
    return v.strip()


def _factor(v: Any, where: str) -> Factor:
    d = _mapping(v, where)
    return Factor(
        value=_number(d.get("value"), f"{where}.value"),
        unit=_text(d.get("unit"), f"{where}.unit"),
        source=_text(d.get("source"), f"{where}.source"),
        note=_text(d.get("note"), f"{where}.note"),
    )


def _carrier(unit: str, pattern: str, where: str) -> str:
    hit = re.fullmatch(pattern, unit)
    if hit is None:
        raise CarbonFactorError(f"{where}: unit {unit!r} is not of the form {pattern!r}")
    return hit.group(1)


def load_factors(path: Path | str | None = None) -> Factors:
    """Read and check a factor file (default: the shipped ``carbon_factors.yaml``).

    Every fuel needs a CO2 factor and a consumption for every weight class in matching
    units; every material code, and ``unsorted``, needs an avoided-emissions factor that
    agrees with its WARM figures where it gives them.

    Raises
    ------
    CarbonFactorError
        The file cannot be read or a key is missing or wrong (named in the message).
    """
    p = Path(path) if path is not None else DEFAULT_FACTORS
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CarbonFactorError(f"{p}: cannot read factor file ({exc})") from exc
    top = _mapping(data, str(p))
    version = top.get("version")
    if not isinstance(version, str | int) or isinstance(version, bool) or not str(version):
        raise CarbonFactorError(f"{p}: version: must be a text or number")

    fuels_in = _mapping(top.get("fuels"), f"{p}: fuels")
    cons_in = _mapping(top.get("consumption"), f"{p}: consumption")
    fuels: dict[str, Factor] = {}
    consumption: dict[str, Consumption] = {}
    for fuel in FUELS:
        where = f"{p}: fuels.{fuel}"
        if fuel not in fuels_in:
            raise CarbonFactorError(f"{where}: missing")
        f = _factor(fuels_in[fuel], where)
        per = _carrier(f.unit, r"kg CO2/(\S+)", f"{where}.unit")
        cw = f"{p}: consumption.{fuel}"
        if fuel not in cons_in:
            raise CarbonFactorError(f"{cw}: missing")
        c = _mapping(cons_in[fuel], cw)
        unit = _text(c.get("unit"), f"{cw}.unit")
        carrier = _carrier(unit, r"(\S+)/100 km", f"{cw}.unit")
        if carrier != per:
            raise CarbonFactorError(
                f"{cw}.unit: {unit!r} does not match fuels.{fuel}.unit {f.unit!r}"
            )
        by_class = _mapping(c.get("per_weight_class"), f"{cw}.per_weight_class")
        values = {}
        for wc in WEIGHT_CLASSES:
            if wc not in by_class:
                raise CarbonFactorError(f"{cw}.per_weight_class.{wc}: missing")
            values[wc] = _number(by_class[wc], f"{cw}.per_weight_class.{wc}", positive=True)
        fuels[fuel] = f
        consumption[fuel] = Consumption(
            unit=unit,
            per_weight_class=values,
            source=_text(c.get("source"), f"{cw}.source"),
            note=_text(c.get("note"), f"{cw}.note"),
        )

    mats_in = _mapping(top.get("materials"), f"{p}: materials")
    materials: dict[str, Factor] = {}
    for mat in (*MATERIALS, UNSORTED):
        where = f"{p}: materials.{mat}"
        if mat not in mats_in:
            raise CarbonFactorError(f"{where}: missing")
        f = _factor(mats_in[mat], where)
        if f.unit != "kg CO2e/kg":
            raise CarbonFactorError(f"{where}.unit: must be 'kg CO2e/kg', got {f.unit!r}")
        warm = mats_in[mat].get("warm")
        if warm is not None:
            w = _mapping(warm, f"{where}.warm")
            rec = _signed(w.get("recycling"), f"{where}.warm.recycling")
            land = _signed(w.get("landfilling"), f"{where}.warm.landfilling")
            if w.get("unit") != "MTCO2E/short ton":
                raise CarbonFactorError(f"{where}.warm.unit: must be 'MTCO2E/short ton'")
            expected = (land - rec) * 1000.0 / KG_PER_SHORT_TON
            if abs(f.value - expected) > _WARM_TOLERANCE:
                raise CarbonFactorError(
                    f"{where}.value: {f.value} does not match its WARM figures "
                    f"(({land}) - ({rec})) x 1000 / {KG_PER_SHORT_TON} = {expected:.4f}"
                )
        materials[mat] = f
    return Factors(str(version), str(p), fuels, consumption, materials)


# --------------------------------------------------------------------------- balances


@dataclass
class _Sums:
    """Unrounded totals of one plan or of a group of plans."""

    plans: int = 0
    km: float = 0.0
    emitted: float = 0.0
    kg: dict[str, float] = field(default_factory=dict)
    avoided: dict[str, float] = field(default_factory=dict)
    fuel_km: dict[tuple[str, str], float] = field(default_factory=dict)
    fuel_kg: dict[tuple[str, str], float] = field(default_factory=dict)
    fuel_routes: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, o: _Sums) -> None:
        self.plans += o.plans
        self.km += o.km
        self.emitted += o.emitted
        for mat, kg in o.kg.items():
            self.kg[mat] = self.kg.get(mat, 0.0) + kg
        for mat, kg in o.avoided.items():
            self.avoided[mat] = self.avoided.get(mat, 0.0) + kg
        for key, km in o.fuel_km.items():
            self.fuel_km[key] = self.fuel_km.get(key, 0.0) + km
        for key, kg in o.fuel_kg.items():
            self.fuel_kg[key] = self.fuel_kg.get(key, 0.0) + kg
        for key, n in o.fuel_routes.items():
            self.fuel_routes[key] = self.fuel_routes.get(key, 0) + n


def _r(x: float) -> float:
    return round(x, 3) + 0.0  # + 0.0 turns -0.0 into 0.0


def _vehicle_sums(routes: Iterable[m.Route], factors: Factors, into: _Sums) -> None:
    for r in routes:
        vc = r.vehicle.vehicle_class
        key = (vc.fuel, vc.weight_class)
        km = r.distance_m / 1000.0
        kg = km * factors.per_km(vc.fuel, vc.weight_class)
        into.km += km
        into.emitted += kg
        into.fuel_km[key] = into.fuel_km.get(key, 0.0) + km
        into.fuel_kg[key] = into.fuel_kg.get(key, 0.0) + kg
        into.fuel_routes[key] = into.fuel_routes.get(key, 0) + 1


def planned_load(plan: m.Plan) -> dict[str, float]:
    """Kilograms per material the plan expects to collect: bookings' materials on pickup
    stops, and collection points' expected kilograms (no split: ``unsorted``)."""
    out: dict[str, float] = {}
    for r in plan.routes:
        for s in r.stops:
            if s.kind == "pickup" and s.booking is not None:
                for item in s.booking.materials or []:
                    mat = str(item.get("material"))
                    out[mat] = out.get(mat, 0.0) + float(item.get("kg") or 0.0)
            elif s.kind == "station" and s.collection_point is not None:
                out[UNSORTED] = out.get(UNSORTED, 0.0) + float(s.collection_point.expected_kg)
    return out


def _avoided(kg: Mapping[str, float], factors: Factors) -> dict[str, float]:
    return {mat: v * factors.avoided_per_kg(mat) for mat, v in kg.items()}


def _by_fuel(s: _Sums, factors: Factors) -> list[dict[str, Any]]:
    return [
        {
            "fuel": fuel,
            "weight_class": wc,
            "routes": s.fuel_routes.get((fuel, wc), 0),
            "km": _r(s.fuel_km[(fuel, wc)]),
            "kg_co2e_per_km": round(factors.per_km(fuel, wc), 4),
            "kg_co2e": _r(s.fuel_kg[(fuel, wc)]),
        }
        for fuel, wc in sorted(s.fuel_km)
    ]


def _by_material(kg: Mapping[str, float], factors: Factors) -> list[dict[str, Any]]:
    rows = []
    for mat in sorted(kg):
        known = mat in factors.materials
        row: dict[str, Any] = {
            "material": mat,
            "kg": _r(kg[mat]),
            "kg_co2e_per_kg": factors.avoided_per_kg(mat),
            "avoided_kg_co2e": _r(kg[mat] * factors.avoided_per_kg(mat)),
        }
        if not known:
            row["note"] = "no factor in the factor file: counted at 0"
        rows.append(row)
    return rows


def _headline(s: _Sums, factors: Factors) -> dict[str, Any]:
    avoided = sum(s.avoided.values())
    return {
        "vehicle_km": _r(s.km),
        "vehicle_kg_co2e": _r(s.emitted),
        "by_fuel": _by_fuel(s, factors),
        "collected_kg": {k: _r(v) for k, v in sorted(s.kg.items())},
        "avoided_kg_co2e": _r(avoided),
        "by_material": _by_material(s.kg, factors),
        "net_kg_co2e": _r(avoided - s.emitted),
    }


@dataclass
class _PlanSums:
    chosen: _Sums  # on the plan's basis
    basis: str
    recorded_kg: dict[str, float]
    planned: _Sums  # on the planned load


def _plan_sums(session: Session, plan: m.Plan, factors: Factors) -> _PlanSums:
    vehicle = _Sums(plans=1)
    _vehicle_sums(plan.routes, factors, vehicle)
    recorded = collected_totals(session, plan.id)
    basis = "recorded" if recorded or plan.status in RECORDED_STATUSES else "planned"
    planned = planned_load(plan)

    def with_load(kg: Mapping[str, float]) -> _Sums:
        s = _Sums()
        s.add(vehicle)
        s.kg = dict(kg)
        s.avoided = _avoided(kg, factors)
        return s

    chosen = with_load(recorded if basis == "recorded" else planned)
    return _PlanSums(chosen, basis, recorded, with_load(planned))


def _factors_info(factors: Factors) -> dict[str, Any]:
    e = factors.fuels["electric"]
    return {
        "version": factors.version,
        "file": Path(factors.path).name,
        "grid_kg_co2_per_kwh": e.value,
    }


def plan_balance(session: Session, plan_id: int, factors: Factors | None = None) -> dict[str, Any]:
    """Carbon balance of one plan, JSON-ready; kg CO2e, positive ``net_kg_co2e`` = benefit.

    ``basis`` says whether the material side is what drivers recorded or the planned
    load; the other figure is under ``recorded`` / ``planned`` for comparison. Vehicle
    kilometres are always the planned route distances (no odometer is recorded).

    Raises
    ------
    NotFound
        No such plan.
    CarbonFactorError
        A vehicle's fuel or weight class has no factor.
    """
    f = factors or load_factors()
    plan = session.get(m.Plan, plan_id)
    if plan is None:
        raise NotFound(f"no plan {plan_id}")
    ps = _plan_sums(session, plan, f)
    return {
        "plan": plan.id,
        "district": plan.district.code,
        "district_name": plan.district.name_en,
        "date": plan.date.isoformat(),
        "status": plan.status,
        "basis": ps.basis,
        **_headline(ps.chosen, f),
        "recorded": {
            "collected_kg": {k: _r(v) for k, v in sorted(ps.recorded_kg.items())},
            "avoided_kg_co2e": _r(sum(_avoided(ps.recorded_kg, f).values())),
        },
        "planned": {
            "collected_kg": {k: _r(v) for k, v in sorted(ps.planned.kg.items())},
            "avoided_kg_co2e": _r(sum(ps.planned.avoided.values())),
        },
        "factors": _factors_info(f),
    }


def _row(s: _Sums) -> dict[str, Any]:
    avoided = sum(s.avoided.values())
    return {
        "plans": s.plans,
        "vehicle_km": _r(s.km),
        "vehicle_kg_co2e": _r(s.emitted),
        "collected_kg": _r(sum(s.kg.values())),
        "avoided_kg_co2e": _r(avoided),
        "net_kg_co2e": _r(avoided - s.emitted),
    }


def period_balance(
    session: Session, start: dt.date, end: dt.date, factors: Factors | None = None
) -> dict[str, Any]:
    """Carbon balance of the published, in-progress and completed plans dated in
    ``[start, end]``: one row per district, one per day, and the totals. Each plan is
    balanced on its own basis (see :func:`plan_balance`); ``basis`` counts them.

    Raises
    ------
    InvalidInput
        ``start`` is after ``end``.
    """
    if start > end:
        raise InvalidInput({"start": f"{start} is after end {end}"})
    f = factors or load_factors()
    plans = session.scalars(
        select(m.Plan)
        .where(m.Plan.status.in_(PERIOD_STATUSES), m.Plan.date >= start, m.Plan.date <= end)
        .order_by(m.Plan.date, m.Plan.id)
    ).all()
    total = _Sums()
    by_district: dict[str, _Sums] = {}
    names: dict[str, str] = {}
    by_day: dict[dt.date, _Sums] = {}
    bases = {"recorded": 0, "planned": 0}
    listed = []
    for plan in plans:
        ps = _plan_sums(session, plan, f)
        s, basis = ps.chosen, ps.basis
        bases[basis] += 1
        code = plan.district.code
        names[code] = plan.district.name_en
        total.add(s)
        by_district.setdefault(code, _Sums()).add(s)
        by_day.setdefault(plan.date, _Sums()).add(s)
        listed.append(
            {
                "plan": plan.id,
                "district": code,
                "date": plan.date.isoformat(),
                "status": plan.status,
                "basis": basis,
                "net_kg_co2e": _r(sum(s.avoided.values()) - s.emitted),
            }
        )
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "statuses": list(PERIOD_STATUSES),
        "basis": bases,
        "plans": listed,
        "by_district": [
            {"district": code, "district_name": names[code], **_row(by_district[code])}
            for code in sorted(by_district)
        ],
        "by_day": [{"date": d.isoformat(), **_row(by_day[d])} for d in sorted(by_day)],
        "totals": {"plans": total.plans, **_headline(total, f)},
        "factors": _factors_info(f),
    }
