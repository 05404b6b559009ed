"""Rule files (YAML, one per district) -> :class:`road_rules.model.RuleSet`.

Every problem is reported with the file, the rule id and the field. The format is
documented in ``docs/road-rules.md``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import yaml
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from road_rules.edges import normalise_name
from road_rules.errors import RuleError
from road_rules.geo import gcj02_to_wgs84
from road_rules.hours import HoursError, parse_hours
from road_rules.model import (
    DAY_KINDS,
    EFFECTS,
    FUELS,
    LIMIT_FIELDS,
    WEIGHT_CLASSES,
    Effect,
    Permit,
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


#: ``bad(field, message)``: report a problem of the rule or permit being read.
Bad = Callable[[str, str], None]


def _date(v: Any) -> dt.date:
    if isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(str(v))


def _str_set(v: Any, bad: Bad | None = None, fld: str = "") -> frozenset[str]:
    """A name or a list of names (numbers are read as their text); anything else is a
    field error through ``bad``."""
    if v is None:
        return frozenset()
    if isinstance(v, str):
        return frozenset({v})
    if isinstance(v, list) and all(
        isinstance(x, str) or (isinstance(x, int) and not isinstance(x, bool)) for x in v
    ):
        return frozenset(str(x) for x in v)
    if bad is not None:
        bad(fld, f"must be a name or a list of names, got {v!r}"[:200])
    return frozenset()


def _number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)


def _name_set(v: Any, bad: Bad, fld: str) -> frozenset[str]:
    """Road names as rules match them: normalised like the graph's (see edges.normalise_name)."""
    return frozenset(normalise_name(x) for x in _str_set(v, bad, fld) if normalise_name(x))


def _parse_where(
    where_raw: Any,
    bad: Bad,
    district: str,
    district_areas: Mapping[str, BaseGeometry] | None,
) -> Where:
    """The ``where`` mapping of a rule or a permit."""
    if not isinstance(where_raw, dict):
        bad("where", "must be a mapping")
        return Where()
    unknown = set(where_raw) - _WHERE_KEYS
    if unknown:
        bad(f"where.{sorted(unknown)[0]}", f"unknown key; known: {sorted(_WHERE_KEYS)}")
    area: BaseGeometry | None = None
    district_wide = bool(where_raw.get("district"))
    if district_wide:
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
                isinstance(p, list | tuple) and len(p) == 2 and all(_number(x) for x in p)
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
                district_wide = False
    way_ids: frozenset[int] = frozenset()
    raw_ways = where_raw.get("way_ids")
    if raw_ways is not None:
        if isinstance(raw_ways, list) and all(
            (isinstance(x, int) and not isinstance(x, bool) and x > 0)
            or (isinstance(x, str) and x.isdigit())
            for x in raw_ways
        ):
            way_ids = frozenset(int(x) for x in raw_ways)
        else:
            bad("where.way_ids", f"must be a list of OSM way ids, got {raw_ways!r}"[:200])
    return Where(
        area=area,
        road_names=_name_set(where_raw.get("road_names"), bad, "where.road_names"),
        way_ids=way_ids,
        highways=_str_set(where_raw.get("highways"), bad, "where.highways"),
        points=_str_set(where_raw.get("points"), bad, "where.points"),
        district_wide=district_wide,
    )


def _parse_time(item: dict[str, Any], bad: Bad) -> tuple[Any, ...]:
    """``valid_from``, ``valid_to``, ``when``, ``except_when``, ``days`` of a rule or permit."""
    vf = vt = None
    try:
        vf = _date(item["valid_from"]) if item.get("valid_from") is not None else None
    except ValueError:
        bad("valid_from", f"not a date YYYY-MM-DD: {item.get('valid_from')!r}")
    try:
        vt = _date(item["valid_to"]) if item.get("valid_to") is not None else None
    except ValueError:
        bad("valid_to", f"not a date YYYY-MM-DD: {item.get('valid_to')!r}")
    if vf and vt and vt < vf:
        bad("valid_to", f"{vt} is before valid_from {vf}")
    for fld in ("when", "except_when"):
        if item.get(fld) is not None:
            try:
                parse_hours(str(item[fld]))
            except HoursError as exc:
                bad(fld, str(exc))
    if item.get("when") is not None and item.get("except_when") is not None:
        bad("except_when", "give either 'when' or 'except_when', not both")
    days = str(item.get("days", "all"))
    if days not in DAY_KINDS:
        bad("days", f"must be one of {list(DAY_KINDS)}, got {days!r}")
    when = str(item["when"]) if item.get("when") is not None else None
    except_when = str(item["except_when"]) if item.get("except_when") is not None else None
    return vf, vt, when, except_when, days


def _parse_vehicles(veh: Any, bad: Bad, known: set[str] | None) -> VehicleSelector:
    if not isinstance(veh, dict):
        bad(
            "vehicles",
            "must be a mapping (classes, weight_classes, fuels, min_gross_weight_kg, "
            "plate_last_digits)",
        )
        return VehicleSelector()
    unknown = set(veh) - _VEHICLE_KEYS
    if unknown:
        bad(
            f"vehicles.{sorted(map(str, unknown))[0]}",
            f"unknown key; known: {sorted(_VEHICLE_KEYS)}",
        )
    classes = _str_set(veh.get("classes"), bad, "vehicles.classes")
    if known is not None and classes - known:
        bad(
            "vehicles.classes",
            f"unknown vehicle class(es) {sorted(classes - known)}; known: {sorted(known)}",
        )
    wcs = _str_set(veh.get("weight_classes"), bad, "vehicles.weight_classes")
    if wcs - set(WEIGHT_CLASSES):
        bad(
            "vehicles.weight_classes",
            f"unknown {sorted(wcs - set(WEIGHT_CLASSES))}; known: {list(WEIGHT_CLASSES)}",
        )
    fuels = _str_set(veh.get("fuels"), bad, "vehicles.fuels")
    if fuels - set(FUELS):
        bad("vehicles.fuels", f"unknown {sorted(fuels - set(FUELS))}; known: {list(FUELS)}")
    mgw = veh.get("min_gross_weight_kg") or 0
    if not _number(mgw) or mgw < 0:
        bad("vehicles.min_gross_weight_kg", f"must be a number of kg >= 0, got {mgw!r}")
        mgw = 0
    raw_digits = veh.get("plate_last_digits")
    digits: frozenset[int] = frozenset()
    if raw_digits is not None:
        items = raw_digits if isinstance(raw_digits, list) else [raw_digits]
        if not items or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 9 for d in items
        ):
            bad("vehicles.plate_last_digits", f"must be a list of digits 0-9, got {raw_digits!r}")
        else:
            digits = frozenset(items)
    return VehicleSelector(classes, wcs, fuels, int(mgw), digits)


_WHERE_KEYS = {"district", "polygon", "coordinates", "road_names", "way_ids", "highways", "points"}
_VEHICLE_KEYS = {"classes", "weight_classes", "fuels", "min_gross_weight_kg", "plate_last_digits"}
_RULE_KEYS = {
    "id",
    "title",
    "source",
    "valid_from",
    "valid_to",
    "vehicles",
    "where",
    "when",
    "except_when",
    "days",
    "effect",
    "max_weight_t",
    "max_height_m",
    "max_length_m",
    "max_width_m",
    "exempt_permits",
    "allow_unmatched",
}
_PERMIT_KEYS = {
    "id",
    "title",
    "source",
    "where",
    "when",
    "except_when",
    "days",
    "valid_from",
    "valid_to",
    "grants_osm_permit",
}
_FILE_KEYS = {"district", "name", "source", "rules", "permits"}
#: What a stationing rule may select: collection points, by name or by area.
_STATION_WHERE = {"district", "polygon", "coordinates", "points"}


def _entries(
    items: list[Any], kind: str, keys: set[str], source: str, problems: list[str]
) -> Iterator[tuple[dict[str, Any], str, str, Bad]]:
    """Each mapping of a ``rules:`` or ``permits:`` list with its id, its place in
    messages (``file: rule ID``) and a ``bad(field, message)`` reporter; the id (missing,
    not a name, a duplicate) and unknown keys are checked here, non-mappings reported."""
    seen: set[str] = set()
    for i, item in enumerate(items):
        raw = item.get("id") if isinstance(item, dict) else None
        iid = str(raw) if isinstance(raw, str | int) and raw else f"#{i + 1}"
        here = f"{source}: {kind} {iid}"

        def bad(fld: str, msg: str, _here: str = here) -> None:
            problems.append(f"{_here}: field '{fld}': {msg}")

        if not isinstance(item, dict):
            problems.append(f"{here}: must be a mapping")
            continue
        if "id" not in item:
            bad("id", "missing")
        elif iid.startswith("#"):
            bad("id", f"must be a name, got {raw!r}"[:200])
        elif iid in seen:
            bad("id", f"duplicate {kind} id")
        seen.add(iid)
        for key in sorted(set(map(str, item)) - keys):
            bad(key, f"unknown key; known: {sorted(keys)}")
        yield item, iid, here, bad


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
        District code -> polygon: for ``where: {district: true}``, and the territory in
        which the file's rules bind (every road inside the district's polygon).

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
    raw_district = data.get("district", "")
    district = str(raw_district) if isinstance(raw_district, str | int) else ""
    if not district:
        problems.append(
            f"{source}: field 'district': missing or not a code (a district code such as 440304)"
        )
    elif district_areas and district not in district_areas:
        problems.append(
            f"{source}: field 'district': no polygon known for district {district!r} "
            f"(known: {sorted(district_areas)}): its rules would have no territory"
        )
    for key in sorted(set(map(str, data)) - _FILE_KEYS):
        problems.append(f"{source}: field '{key}': unknown key; known: {sorted(_FILE_KEYS)}")
    territory = (district_areas or {}).get(district)
    items = data.get("rules")
    if not isinstance(items, list):
        raise RuleError([*problems, f"{source}: field 'rules': must be a list"])
    permits = _parse_permits(data.get("permits"), source, district, district_areas, problems)
    known = set(known_classes) if known_classes is not None else None
    rules: list[Rule] = []
    for r, rid, here, bad in _entries(items, "rule", _RULE_KEYS, source, problems):
        effect = r.get("effect")
        if effect not in EFFECTS:
            bad("effect", f"must be one of {list(EFFECTS)}, got {effect!r}"[:200])
        where_raw0 = r.get("where")
        where_keys = (
            {str(k) for k, v in where_raw0.items() if v not in (None, [], "", False)}
            if isinstance(where_raw0, dict)
            else set()
        )
        if effect == "stationing_allowed":
            # Stationing windows are per collection point, for every van: select points.
            for key in sorted(where_keys - _STATION_WHERE):
                bad(
                    f"where.{key}",
                    "a stationing rule selects points: by 'points', 'polygon' or 'district'",
                )
            for key in ("vehicles", "exempt_permits"):
                if r.get(key):
                    bad(key, "a stationing rule binds every van at its points; it takes no " + key)
        elif "points" in where_keys:
            bad(
                "where.points",
                f"only a stationing rule selects collection points ({effect!r} selects roads)",
            )
        vf, vt, when, except_when, days = _parse_time(r, bad)
        selector = _parse_vehicles(r.get("vehicles") or {}, bad, known)
        where = _parse_where(r.get("where") or {}, bad, district, district_areas)
        limits: dict[str, float | None] = {}
        for eff, fld in LIMIT_FIELDS.items():
            val: Any = r.get(fld)
            if effect == eff and (not _number(val) or val <= 0):
                unit = "tonnes" if fld.endswith("_t") else "metres"
                bad(fld, f"a {eff} rule needs a positive number of {unit}, got {val!r}")
            elif val is not None and effect != eff:
                bad(fld, f"only a {eff} rule takes {fld} (this rule's effect is {effect!r})")
            limits[fld] = float(val) if _number(val) else None
        exempt = _str_set(r.get("exempt_permits"), bad, "exempt_permits")
        allow_unmatched = r.get("allow_unmatched", False)
        if not isinstance(allow_unmatched, bool):
            bad("allow_unmatched", f"must be true or false, got {allow_unmatched!r}")
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
                vehicles=selector,
                where=where,
                when=when,
                except_when=except_when,
                days=days,
                exempt_permits=exempt,
                origin=source,
                territory=territory,
                allow_unmatched=bool(allow_unmatched),
                max_weight_t=limits["max_weight_t"],
                max_height_m=limits["max_height_m"],
                max_length_m=limits["max_length_m"],
                max_width_m=limits["max_width_m"],
            )
        )
    if problems:
        raise RuleError(problems)
    return RuleSet(tuple(rules), (source,), permits)


def _parse_permits(
    items: Any,
    source: str,
    district: str,
    district_areas: Mapping[str, BaseGeometry] | None,
    problems: list[str],
) -> tuple[Permit, ...]:
    """The file's ``permits:`` list: where and when each permit exempts its holders."""
    if items is None:
        return ()
    if not isinstance(items, list):
        problems.append(f"{source}: field 'permits': must be a list")
        return ()
    out: list[Permit] = []
    for p, pid, here, bad in _entries(items, "permit", _PERMIT_KEYS, source, problems):
        vf, vt, when, except_when, days = _parse_time(p, bad)
        where = _parse_where(p.get("where") or {}, bad, district, district_areas)
        grants = p.get("grants_osm_permit", False)
        if not isinstance(grants, bool):
            bad("grants_osm_permit", f"must be true or false, got {grants!r}")
        if problems and problems[-1].startswith(here):
            continue
        out.append(
            Permit(
                id=pid,
                title=str(p.get("title", pid)),
                district=district,
                where=where,
                territory=(district_areas or {}).get(district),
                when=when,
                except_when=except_when,
                days=days,
                valid_from=vf,
                valid_to=vt,
                grants_osm_permit=bool(grants),
                origin=source,
            )
        )
    return tuple(out)


def conflicts(rules: RuleSet) -> list[str]:
    """Pairs of permissive rules of one kind and equal specificity that may cover the same
    place with different hours (both then apply: their windows are united)."""
    out = []
    perm = [r for r in rules.rules if r.effect == "stationing_allowed"]
    for i, a in enumerate(perm):
        for b in perm[i + 1 :]:
            if a.district != b.district or a.where.specificity != b.where.specificity:
                continue
            if (a.when, a.except_when, a.days) == (b.when, b.except_when, b.days):
                continue
            wa, wb = a.where, b.where
            overlap = (
                (not wa.points or not wb.points or bool(wa.points & wb.points))
                and (wa.area is None or wb.area is None or wa.area.intersects(wb.area))
                and (not wa.road_names or not wb.road_names or bool(wa.road_names & wb.road_names))
                and (not wa.highways or not wb.highways or bool(wa.highways & wb.highways))
            )
            if overlap:
                out.append(
                    f"{a.origin}: rule {a.id} and {b.origin}: rule {b.id}: both "
                    f"{a.effect} with equally specific places and different hours "
                    f"({a.when or a.except_when!r} vs {b.when or b.except_when!r}); "
                    "where both cover a point its windows are united"
                )
    return out


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
    return RuleSet(out.rules, out.files, out.permits, tuple(conflicts(out)))
