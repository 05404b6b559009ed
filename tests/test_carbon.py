"""Carbon balance: the factor file, its checks, and the arithmetic of plan and period
balances on a small hand-built database (no road network)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dispatch import models as m
from dispatch.carbon import (
    DEFAULT_FACTORS,
    KG_PER_SHORT_TON,
    UNSORTED,
    CarbonFactorError,
    Factors,
    load_factors,
    period_balance,
    plan_balance,
)
from dispatch.db import make_engine, session_scope, upgrade
from dispatch.errors import InvalidInput, NotFound
from dispatch.materials import MATERIALS
from road_rules.model import FUELS, WEIGHT_CLASSES

DAY = dt.date(2026, 12, 1)
UTC = dt.UTC


@pytest.fixture(scope="module")
def factors() -> Factors:
    return load_factors()


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The shipped factor file as plain YAML, to recompute expectations independently."""
    data: dict[str, Any] = yaml.safe_load(DEFAULT_FACTORS.read_text(encoding="utf-8"))
    return data


def per_km(raw: dict[str, Any], fuel: str, weight_class: str) -> float:
    """kg CO2 per km straight from the file: consumption per 100 km x CO2 per unit."""
    cons = raw["consumption"][fuel]["per_weight_class"][weight_class]
    return float(cons) / 100 * float(raw["fuels"][fuel]["value"])


# --------------------------------------------------------------------------- factor file


def test_every_material_fuel_and_weight_class_has_a_documented_factor(
    factors: Factors,
) -> None:
    """Each material code has an avoided-emissions entry with a source; a zero is an
    explicit, explained 'no WARM factor'. Each fuel x weight class has a positive factor."""
    for mat in (*MATERIALS, UNSORTED):
        f = factors.materials[mat]
        assert f.source and f.note and f.unit == "kg CO2e/kg"
        if f.value == 0:
            assert "0" in f.note and ("no warm factor" in f.note.lower() or mat == UNSORTED)
        else:
            assert "WARM" in f.source and "epa.gov" in f.source
    for fuel, wc in itertools.product(FUELS, WEIGHT_CLASSES):
        assert factors.per_km(fuel, wc) > 0
    for fuel in FUELS:
        assert factors.consumption[fuel].source.startswith("ASSUMPTION")


def test_recyclables_carry_warm_factors_converted_per_kg(raw: dict[str, Any]) -> None:
    """kg CO2e/kg = (landfilling - recycling) MTCO2E per short ton x 1000 / 907.18474."""
    assert pytest.approx(2000 * 0.45359237) == KG_PER_SHORT_TON
    for mat in ("paper", "metal", "plastic", "glass", "e_waste"):
        e = raw["materials"][mat]
        w = e["warm"]
        assert w["recycling"] < 0 < w["landfilling"]
        expected = (w["landfilling"] - w["recycling"]) * 1000 / 907.18474
        assert e["value"] == pytest.approx(expected, abs=5e-4)
    # corrugated containers, WARM v16 Exhibit 3-7: -3.14 recycled, 0.18 landfilled
    assert raw["materials"]["paper"]["value"] == pytest.approx(3.32 / 0.90718474, abs=5e-4)


def test_electric_uses_the_mee_grid_factor(factors: Factors) -> None:
    grid = factors.fuels["electric"]
    assert grid.value == 0.5366 and grid.unit == "kg CO2/kWh"
    assert "Ministry of Ecology and Environment" in grid.source
    kwh = factors.consumption["electric"].per_weight_class["light"] / 100
    assert factors.per_km("electric", "light") == pytest.approx(kwh * 0.5366)


def _mutate(path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    data = yaml.safe_load(DEFAULT_FACTORS.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _set(*keys: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value

    return change


def _drop(*keys: str) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        for k in keys[:-1]:
            d = d[k]
        del d[keys[-1]]

    return change


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (_set("materials", "glass", "value", value="lots"), "materials.glass.value"),
        (_set("materials", "glass", "value", value=-0.3), "materials.glass.value"),
        (_drop("materials", "textiles"), "materials.textiles"),
        (_drop("materials", "paper", "source"), "materials.paper.source"),
        (_set("materials", "metal", "value", value=4.5), "materials.metal.value"),
        (_set("materials", "plastic", "unit", value="kg CO2e/t"), "materials.plastic.unit"),
        (_drop("fuels", "lng"), "fuels.lng"),
        (_set("fuels", "diesel", "value", value=True), "fuels.diesel.value"),
        (
            _drop("consumption", "electric", "per_weight_class", "heavy"),
            "consumption.electric.per_weight_class.heavy",
        ),
        (
            _set("consumption", "diesel", "per_weight_class", "light", value=0),
            "consumption.diesel.per_weight_class.light",
        ),
        (_set("consumption", "diesel", "unit", value="kWh/100 km"), "consumption.diesel.unit"),
    ],
)
def test_a_bad_factor_file_is_refused_naming_the_key(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], key: str
) -> None:
    """Wrong type, sign, unit, a missing entry, or a value that disagrees with its WARM
    figures: the error names the file and the key."""
    path = _mutate(tmp_path / "bad.yaml", change)
    with pytest.raises(CarbonFactorError) as err:
        load_factors(path)
    assert key in str(err.value) and str(path) in str(err.value)


def test_an_unreadable_factor_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("fuels: [unclosed\n", encoding="utf-8")
    with pytest.raises(CarbonFactorError, match="cannot read"):
        load_factors(bad)
    with pytest.raises(CarbonFactorError, match="cannot read"):
        load_factors(tmp_path / "missing.yaml")


# --------------------------------------------------------------------------- database


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'carbon.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


class World:
    """Builds the minimal rows of a balance directly through the models."""

    def __init__(self, s: Session) -> None:
        self.s = s
        self.n = itertools.count(1)
        self.districts: dict[str, m.District] = {}
        self.depot: dict[str, m.Depot] = {}
        self.classes: dict[tuple[str, str], m.VehicleClass] = {}

    def district(self, code: str) -> m.District:
        if code not in self.districts:
            d = m.District(
                code=code,
                name_zh="区",
                name_en=f"D{code}",
                boundary={"type": "Polygon", "coordinates": []},
            )
            self.districts[code] = d
            self.depot[code] = m.Depot(
                ref=f"DEP-{code}", name="基地", district=d, lat=22.54, lon=114.05
            )
        return self.districts[code]

    def vehicle(self, code: str, fuel: str, weight_class: str) -> m.Vehicle:
        key = (fuel, weight_class)
        if key not in self.classes:
            self.classes[key] = m.VehicleClass(
                code=f"{weight_class}_{fuel}",
                name=f"{weight_class} {fuel}",
                weight_class=weight_class,
                gross_weight_kg=4495,
                fuel=fuel,
                speed_profile="light_truck",
            )
        self.district(code)
        return m.Vehicle(
            plate=f"粤B{next(self.n):05d}",
            vehicle_class=self.classes[key],
            depot=self.depot[code],
            capacity_kg=1200,
            capacity_m3=6.0,
            shift_start=dt.time(8),
            shift_end=dt.time(18),
        )

    def plan(self, code: str, day: dt.date = DAY, status: str = "published") -> m.Plan:
        p = m.Plan(district=self.district(code), date=day, status=status)
        self.s.add(p)
        self.s.flush()
        return p

    def route(self, plan: m.Plan, km: float, fuel: str, weight_class: str = "light") -> m.Route:
        r = m.Route(
            plan=plan,
            vehicle=self.vehicle(plan.district.code, fuel, weight_class),
            distance_m=round(km * 1000),
            duration_s=3600,
        )
        self.s.add(r)
        self._stop(r, "depot")
        return r

    def _stop(self, r: m.Route, kind: str, **kw: Any) -> m.Stop:
        st = m.Stop(
            route=r,
            sequence=len(r.stops),
            kind=kind,
            lat=22.55,
            lon=114.04,
            node=next(self.n),
            arrival_s=32_400,
            start_s=32_400,
            departure_s=33_000,
            load_kg=0,
            load_m3=0.0,
            **kw,
        )
        self.s.add(st)
        return st

    def pickup(self, r: m.Route, materials: dict[str, float]) -> m.Stop:
        n = next(self.n)
        b = m.Booking(
            reference=f"BK-{n:06d}",
            resident_name="李芳",
            resident_phone="13900000001",
            address="福田区",
            district=r.plan.district,
            lat=22.55,
            lon=114.04,
            materials=[{"material": k, "kg": v, "m3": 0.1} for k, v in materials.items()],
            est_kg=sum(materials.values()),
            est_m3=0.1 * len(materials),
            date=r.plan.date,
            window_start=dt.time(9),
            window_end=dt.time(11),
        )
        return self._stop(r, "pickup", booking=b)

    def station(self, r: m.Route, expected_kg: int) -> m.Stop:
        n = next(self.n)
        cp = m.CollectionPoint(
            ref=f"CP-{n:03d}",
            name="回收点",
            compound="花园",
            district_id=r.plan.district.id,
            lat=22.55,
            lon=114.04,
            households=500,
            stationing_hours="Tu 09:00-11:30",
            dwell_minutes=30,
            expected_kg=expected_kg,
            expected_m3=1.0,
        )
        return self._stop(r, "station", collection_point=cp)

    def collected(self, stop: m.Stop, kg: dict[str, float]) -> None:
        self.s.flush()
        self.s.add(
            m.StopEvent(
                client_event_id=f"evt-{next(self.n):06d}",
                stop_id=stop.id,
                kind="collected",
                recorded_at=dt.datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
                payload={"kg": kg},
            )
        )
        self.s.flush()


def test_diesel_route_and_collected_cardboard_give_the_expected_balance(
    engine: Engine, factors: Factors, raw: dict[str, Any]
) -> None:
    """10 km in a light diesel van, 100 kg of paper collected: emissions, avoided and net
    are exactly the factor file's numbers."""
    with session_scope(engine) as s:
        w = World(s)
        plan = w.plan("440304")
        r = w.route(plan, 10.0, "diesel")
        stop = w.pickup(r, {"paper": 80})  # planned 80, recorded 100
        w.collected(stop, {"paper": 100.0})
        b = plan_balance(s, plan.id, factors)

    emitted = 10.0 * per_km(raw, "diesel", "light")
    assert emitted == pytest.approx(10 * 0.12 * 2.68)  # 12 L/100 km x 2.68 kg CO2/L
    avoided = 100.0 * raw["materials"]["paper"]["value"]
    assert b["basis"] == "recorded"
    assert b["vehicle_km"] == 10.0
    assert b["vehicle_kg_co2e"] == pytest.approx(emitted, abs=1e-3)
    assert b["collected_kg"] == {"paper": 100.0}
    assert b["avoided_kg_co2e"] == pytest.approx(avoided, abs=1e-3)
    assert b["net_kg_co2e"] == pytest.approx(avoided - emitted, abs=1e-3)
    assert b["by_fuel"] == [
        {
            "fuel": "diesel",
            "weight_class": "light",
            "routes": 1,
            "km": 10.0,
            "kg_co2e_per_km": pytest.approx(per_km(raw, "diesel", "light"), abs=1e-3),
            "kg_co2e": pytest.approx(emitted, abs=1e-3),
        }
    ]
    assert b["by_material"] == [
        {
            "material": "paper",
            "kg": 100.0,
            "kg_co2e_per_kg": raw["materials"]["paper"]["value"],
            "avoided_kg_co2e": pytest.approx(avoided, abs=1e-3),
        }
    ]
    assert b["planned"]["collected_kg"] == {"paper": 80.0}
    assert b["planned"]["avoided_kg_co2e"] == pytest.approx(
        80 * raw["materials"]["paper"]["value"], abs=1e-3
    )
    assert b["date"] == DAY.isoformat() and b["district"] == "440304"


def test_electric_route_emissions_use_the_grid_factor(
    engine: Engine, factors: Factors, raw: dict[str, Any]
) -> None:
    """An electric van's kg CO2 = km x kWh/km x the MEE grid factor; a diesel van on the
    same plan is reported in its own by-fuel row."""
    with session_scope(engine) as s:
        w = World(s)
        plan = w.plan("440305")
        w.route(plan, 24.0, "electric")
        w.route(plan, 5.5, "diesel", "medium")
        b = plan_balance(s, plan.id, factors)

    kwh_per_km = raw["consumption"]["electric"]["per_weight_class"]["light"] / 100
    electric = 24.0 * kwh_per_km * 0.5366
    diesel = 5.5 * per_km(raw, "diesel", "medium")
    rows = {row["fuel"]: row for row in b["by_fuel"]}
    assert rows["electric"]["kg_co2e"] == pytest.approx(electric, abs=1e-3)
    assert rows["diesel"]["kg_co2e"] == pytest.approx(diesel, abs=1e-3)
    assert rows["diesel"]["weight_class"] == "medium"
    assert b["vehicle_km"] == pytest.approx(29.5)
    assert b["vehicle_kg_co2e"] == pytest.approx(electric + diesel, abs=1e-3)
    # nothing collected or planned: the balance is the emissions, negative
    assert b["basis"] == "planned" and b["avoided_kg_co2e"] == 0
    assert b["net_kg_co2e"] == pytest.approx(-(electric + diesel), abs=1e-3)
    assert b["factors"]["grid_kg_co2_per_kwh"] == 0.5366


def test_a_changed_grid_factor_changes_electric_emissions(
    engine: Engine, tmp_path: Path, raw: dict[str, Any]
) -> None:
    """The balance reads the factor file it is given: the Southern-grid factor halves
    nothing by magic, it scales electric emissions exactly."""
    southern = raw["grid_alternatives"]["southern_region_2022"]["value"]
    path = _mutate(tmp_path / "south.yaml", _set("fuels", "electric", "value", value=southern))
    with session_scope(engine) as s:
        w = World(s)
        plan = w.plan("440305")
        w.route(plan, 10.0, "electric")
        national = plan_balance(s, plan.id)["vehicle_kg_co2e"]
        regional = plan_balance(s, plan.id, load_factors(path))["vehicle_kg_co2e"]
    assert regional == pytest.approx(national * southern / 0.5366, abs=1e-3)


def test_planned_basis_counts_bookings_by_material_and_collection_points_as_unsorted(
    engine: Engine, factors: Factors, raw: dict[str, Any]
) -> None:
    """Before anything is recorded the balance uses the planned load: booking materials
    per material, collection-point expected kg as 'unsorted' (factor 0)."""
    with session_scope(engine) as s:
        w = World(s)
        plan = w.plan("440304", status="approved")
        r = w.route(plan, 12.0, "electric")
        w.pickup(r, {"paper": 10, "glass": 5})
        w.pickup(r, {"paper": 2.5, "e_waste": 8})
        w.station(r, 140)
        b = plan_balance(s, plan.id, factors)

    mats = raw["materials"]
    assert b["basis"] == "planned"
    assert b["collected_kg"] == {"e_waste": 8.0, "glass": 5.0, "paper": 12.5, UNSORTED: 140.0}
    avoided = 12.5 * mats["paper"]["value"] + 5 * mats["glass"]["value"]
    avoided += 8 * mats["e_waste"]["value"]
    assert b["avoided_kg_co2e"] == pytest.approx(avoided, abs=1e-3)
    unsorted = next(row for row in b["by_material"] if row["material"] == UNSORTED)
    assert unsorted["kg"] == 140.0 and unsorted["avoided_kg_co2e"] == 0
    assert b["recorded"] == {"collected_kg": {}, "avoided_kg_co2e": 0}


def test_a_started_plan_with_nothing_recorded_is_balanced_on_records(
    engine: Engine, factors: Factors
) -> None:
    """An in-progress plan is measured by what drivers recorded, even if that is nothing
    yet: the planned load is not claimed as collected."""
    with session_scope(engine) as s:
        w = World(s)
        plan = w.plan("440304", status="in_progress")
        r = w.route(plan, 3.0, "diesel")
        w.pickup(r, {"metal": 40})
        b = plan_balance(s, plan.id, factors)
    assert b["basis"] == "recorded"
    assert b["collected_kg"] == {} and b["avoided_kg_co2e"] == 0
    assert b["planned"]["collected_kg"] == {"metal": 40.0}


def test_unknown_plan_is_not_found(engine: Engine, factors: Factors) -> None:
    with session_scope(engine) as s, pytest.raises(NotFound):
        plan_balance(s, 999, factors)


def test_period_balance_excludes_drafts_and_sums_by_district_and_day(
    engine: Engine, factors: Factors, raw: dict[str, Any]
) -> None:
    """Published, in-progress and completed plans in the range count; a draft, an
    approved and a superseded plan, and a plan outside the range, do not. Rows per
    district and per day add up to the totals."""
    day2 = DAY + dt.timedelta(days=1)
    with session_scope(engine) as s:
        w = World(s)
        a = w.plan("440304", DAY, "published")
        w.collected(w.pickup(w.route(a, 10.0, "diesel"), {"paper": 50}), {"paper": 60.0})
        b = w.plan("440305", DAY, "completed")
        w.collected(w.pickup(w.route(b, 8.0, "electric"), {"glass": 30}), {"glass": 30.0})
        c = w.plan("440304", day2, "in_progress")
        w.collected(w.pickup(w.route(c, 4.0, "petrol"), {"metal": 20}), {"metal": 25.0})
        for status in ("draft", "approved", "superseded"):
            x = w.plan("440304", DAY, status)
            w.collected(w.pickup(w.route(x, 99.0, "diesel"), {"paper": 9}), {"paper": 999.0})
        late = w.plan("440304", DAY + dt.timedelta(days=7), "published")
        w.route(late, 50.0, "diesel")
        s.flush()
        ids = {a.id, b.id, c.id}
        p = period_balance(s, DAY, day2, factors)
        singles = [plan_balance(s, i, factors) for i in sorted(ids)]

    mats = raw["materials"]
    emitted = (
        10 * per_km(raw, "diesel", "light")
        + 8 * per_km(raw, "electric", "light")
        + 4 * per_km(raw, "petrol", "light")
    )
    avoided = 60 * mats["paper"]["value"] + 30 * mats["glass"]["value"]
    avoided += 25 * mats["metal"]["value"]
    t = p["totals"]
    assert {row["plan"] for row in p["plans"]} == ids
    assert p["basis"] == {"recorded": 3, "planned": 0}
    assert t["plans"] == 3 and t["vehicle_km"] == pytest.approx(22.0)
    assert t["vehicle_kg_co2e"] == pytest.approx(emitted, abs=1e-3)
    assert t["collected_kg"] == {"glass": 30.0, "metal": 25.0, "paper": 60.0}
    assert t["avoided_kg_co2e"] == pytest.approx(avoided, abs=1e-3)
    assert t["net_kg_co2e"] == pytest.approx(avoided - emitted, abs=1e-3)
    assert t["net_kg_co2e"] == pytest.approx(sum(x["net_kg_co2e"] for x in singles), abs=3e-3)

    districts = {row["district"]: row for row in p["by_district"]}
    assert set(districts) == {"440304", "440305"}
    assert districts["440304"]["plans"] == 2 and districts["440305"]["plans"] == 1
    assert districts["440304"]["vehicle_km"] == pytest.approx(14.0)
    days = {row["date"]: row for row in p["by_day"]}
    assert set(days) == {DAY.isoformat(), day2.isoformat()}
    assert days[day2.isoformat()]["collected_kg"] == 25.0
    for rows in (p["by_district"], p["by_day"]):
        for key in ("vehicle_kg_co2e", "avoided_kg_co2e", "net_kg_co2e"):
            assert sum(r[key] for r in rows) == pytest.approx(t[key], abs=3e-3)


def test_period_balance_refuses_a_reversed_range(engine: Engine, factors: Factors) -> None:
    with session_scope(engine) as s, pytest.raises(InvalidInput):
        period_balance(s, DAY, DAY - dt.timedelta(days=1), factors)


def test_balances_are_json_ready(engine: Engine, factors: Factors) -> None:
    import json

    with session_scope(engine) as s:
        w = World(s)
        plan = w.plan("440304")
        w.collected(w.pickup(w.route(plan, 1.0, "lng", "heavy"), {"plastic": 3}), {"plastic": 3})
        one = plan_balance(s, plan.id, factors)
        period = period_balance(s, DAY, DAY, factors)
    assert json.loads(json.dumps(one)) == one
    assert json.loads(json.dumps(period)) == period
