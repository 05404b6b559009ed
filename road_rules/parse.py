"""Rule files (YAML, one per district) -> :class:`road_rules.model.RuleSet`.

Every problem is reported with the file, the rule id and the field. The format is
documented in ``docs/road-rules.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import yaml
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from road_rules.errors import RuleError
from road_rules.geo import gcj02_to_wgs84
from road_rules.hours import HoursError, parse_hours
from road_rules.model import (
    DAY_KINDS,
    EFFECTS,
    FUELS,
    WEIGHT_CLASSES,
    Effect,
    Rule,
    RuleSet,
    VehicleSelector,
    Where,
)


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text: a bad date is then a field error, not a crash."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _date(v: Any) -> dt.date:
    if isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(str(v))


def _str_set(v: Any) -> frozenset[str]:
    if v is None:
        return frozenset()
    if isinstance(v, str):
        return frozenset({v})
    return frozenset(str(x) for x in v)


def parse_rules_text(
    text: str,
    source: str,
    *,
    known_classes: Iterable[str] | None = None,
    district_areas: Mapping[str, BaseGeometry] | None = None,
) -> RuleSet:
    """Parse one rule file's text.

    Parameters
    ----------
    known_classes
        Vehicle class codes a rule may name; ``None`` accepts any.
    district_areas
        District code -> polygon, for ``where: {district: true}``.

    Raises
    ------
    RuleError
        Listing every problem as ``file: rule ID: field 'X': ...``.
    """
    problems: list[str] = []
    try:
        data = yaml.load(text, Loader=_Loader) or {}  # _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        raise RuleError([f"{source}: not valid YAML ({exc})"]) from None
    if not isinstance(data, dict):
        raise RuleError([f"{source}: top level must be a mapping with 'district' and 'rules'"])
    district = str(data.get("district", ""))
    if not district:
        problems.append(f"{source}: field 'district': missing (a district code such as 440304)")
    items = data.get("rules")
    if not isinstance(items, list):
        raise RuleError([*problems, f"{source}: field 'rules': must be a list"])
    known = set(known_classes) if known_classes is not None else None
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, r in enumerate(items):
        rid = str(r.get("id")) if isinstance(r, dict) and r.get("id") else f"#{i + 1}"
        here = f"{source}: rule {rid}"

        def bad(fld: str, msg: str, _here: str = here) -> None:
            problems.append(f"{_here}: field '{fld}': {msg}")

        if not isinstance(r, dict):
            problems.append(f"{here}: must be a mapping")
            continue
        if "id" not in r:
            bad("id", "missing")
        elif rid in seen:
            bad("id", "duplicate rule id")
        seen.add(rid)
        effect = r.get("effect")
        if effect not in EFFECTS:
            bad("effect", f"must be one of {list(EFFECTS)}, got {effect!r}")
        vf = vt = None
        try:
            vf = _date(r["valid_from"]) if r.get("valid_from") is not None else None
        except ValueError:
            bad("valid_from", f"not a date YYYY-MM-DD: {r.get('valid_from')!r}")
        try:
            vt = _date(r["valid_to"]) if r.get("valid_to") is not None else None
        except ValueError:
            bad("valid_to", f"not a date YYYY-MM-DD: {r.get('valid_to')!r}")
        if vf and vt and vt < vf:
            bad("valid_to", f"{vt} is before valid_from {vf}")
        for fld in ("when", "except_when"):
            if r.get(fld) is not None:
                try:
                    parse_hours(str(r[fld]))
                except HoursError as exc:
                    bad(fld, str(exc))
        if r.get("when") is not None and r.get("except_when") is not None:
            bad("except_when", "give either 'when' or 'except_when', not both")
        days = str(r.get("days", "all"))
        if days not in DAY_KINDS:
            bad("days", f"must be one of {list(DAY_KINDS)}, got {days!r}")
        veh = r.get("vehicles") or {}
        if not isinstance(veh, dict):
            bad(
                "vehicles",
                "must be a mapping (classes, weight_classes, fuels, min_gross_weight_kg)",
            )
            veh = {}
        classes = _str_set(veh.get("classes"))
        if known is not None and classes - known:
            bad(
                "vehicles.classes",
                f"unknown vehicle class(es) {sorted(classes - known)}; known: {sorted(known)}",
            )
        wcs = _str_set(veh.get("weight_classes"))
        if wcs - set(WEIGHT_CLASSES):
            bad(
                "vehicles.weight_classes",
                f"unknown {sorted(wcs - set(WEIGHT_CLASSES))}; known: {list(WEIGHT_CLASSES)}",
            )
        fuels = _str_set(veh.get("fuels"))
        if fuels - set(FUELS):
            bad("vehicles.fuels", f"unknown {sorted(fuels - set(FUELS))}; known: {list(FUELS)}")
        mgw = veh.get("min_gross_weight_kg") or 0
        if isinstance(mgw, bool) or not isinstance(mgw, int | float) or mgw < 0:
            bad("vehicles.min_gross_weight_kg", f"must be a number of kg >= 0, got {mgw!r}")
            mgw = 0
        where_raw = r.get("where") or {}
        if not isinstance(where_raw, dict):
            bad("where", "must be a mapping")
            where_raw = {}
        area: BaseGeometry | None = None
        if where_raw.get("district"):
            area = (district_areas or {}).get(district)
            if area is None:
                bad("where.district", f"no polygon known for district {district!r}")
        if "polygon" in where_raw:
            poly = where_raw["polygon"]
            gcj = str(where_raw.get("coordinates", "wgs84")).lower()
            if gcj not in ("wgs84", "gcj02"):
                bad("where.coordinates", f"must be 'wgs84' or 'gcj02', got {gcj!r}")
            ok = (
                isinstance(poly, list)
                and len(poly) >= 4
                and all(
                    isinstance(p, list | tuple)
                    and len(p) == 2
                    and all(isinstance(x, int | float) for x in p)
                    for p in poly
                )
            )
            if not ok:
                bad("where.polygon", "must be a list of at least 4 [lon, lat] pairs")
            elif list(poly[0]) != list(poly[-1]):
                bad(
                    "where.polygon",
                    f"unclosed polygon: first point {list(poly[0])} != last point {list(poly[-1])}",
                )
            else:
                pts = [
                    gcj02_to_wgs84(float(x), float(y)) if gcj == "gcj02" else (float(x), float(y))
                    for x, y in poly
                ]
                shp = Polygon(pts)
                if not shp.is_valid:
                    bad("where.polygon", "polygon is not valid (it crosses itself)")
                else:
                    area = shp if area is None else area.intersection(shp)
        way_ids: frozenset[int] = frozenset()
        try:
            way_ids = frozenset(int(x) for x in (where_raw.get("way_ids") or []))
        except (TypeError, ValueError):
            bad("where.way_ids", "must be a list of OSM way ids")
        mw = r.get("max_weight_t")
        if effect == "max_weight" and (
            isinstance(mw, bool) or not isinstance(mw, int | float) or mw <= 0
        ):
            bad("max_weight_t", f"a max_weight rule needs a positive number of tonnes, got {mw!r}")
        if problems and problems[-1].startswith(here):
            continue
        rules.append(
            Rule(
                id=rid,
                title=str(r.get("title", rid)),
                district=district,
                effect=cast(Effect, effect),
                source=str(r.get("source", "")),
                valid_from=vf,
                valid_to=vt,
                vehicles=VehicleSelector(classes, wcs, fuels, int(mgw)),
                where=Where(
                    area=area,
                    road_names=_str_set(where_raw.get("road_names")),
                    way_ids=way_ids,
                    highways=_str_set(where_raw.get("highways")),
                    points=_str_set(where_raw.get("points")),
                ),
                when=str(r["when"]) if r.get("when") is not None else None,
                except_when=str(r["except_when"]) if r.get("except_when") is not None else None,
                days=days,
                max_weight_t=float(mw) if isinstance(mw, int | float) else None,
                exempt_permits=_str_set(r.get("exempt_permits")),
                origin=source,
            )
        )
    if problems:
        raise RuleError(problems)
    return RuleSet(tuple(rules), (source,))


def load_rules(
    paths: Iterable[Path | str],
    *,
    known_classes: Iterable[str] | None = None,
    district_areas: Mapping[str, BaseGeometry] | None = None,
) -> RuleSet:
    """Load rule files; a directory means every ``*.yaml``/``*.yml`` in it.

    Raises
    ------
    RuleError
        Listing the problems of every file.
    """
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files += sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
        elif p.is_file():
            files.append(p)
        else:
            raise RuleError([f"{p}: no such rule file or directory"])
    known = list(known_classes) if known_classes is not None else None
    out = RuleSet(())
    problems: list[str] = []
    for f in files:
        try:
            out = out + parse_rules_text(
                f.read_text(encoding="utf-8"),
                str(f),
                known_classes=known,
                district_areas=district_areas,
            )
        except RuleError as exc:
            problems += exc.problems
    if problems:
        raise RuleError(problems)
    ids = [r.id for r in out.rules]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise RuleError([f"rule id(s) {dup} appear in more than one file"])
    return out
