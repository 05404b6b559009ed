"""OSM access tags on the graph turned into rules.

Permanent tags (``hgv=no``, ``maxweight=5``, ``motor_vehicle=no``) and conditional ones
(``hgv:conditional = no @ (Mo-Fr 07:00-09:00); ...``) both become rules with ids like
``osm:hgv:conditional#3``, so the legality checker cites them. Where a rule file and a
tag disagree, both are applied: whichever forbids more wins.
"""

from __future__ import annotations

import re
from typing import Any

from road_rules.edges import EdgeTable
from road_rules.hours import HoursError, parse_hours
from road_rules.model import Rule, RuleSet, VehicleSelector, Where

_NO = {"no", "private", "agricultural", "forestry"}
_GROUPS = {
    # tag prefix -> who it binds
    "hgv": VehicleSelector(min_gross_weight_kg=3501),
    "goods": VehicleSelector(),
    "motor_vehicle": VehicleSelector(),
    "access": VehicleSelector(),
}


def parse_conditional(value: str) -> list[tuple[str, str]]:
    """Split ``"no @ (Mo-Fr 07:00-09:00); delivery @ (22:00-06:00)"`` into (value, condition)."""
    out = []
    # Conditions are parenthesised and may contain ';', so split on ';' outside parentheses.
    depth, cur, parts = 0, "", []
    for ch in value:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == ";" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for p in parts:
        m = re.match(r"^\s*([^@]+?)\s*@\s*\(?(.*?)\)?\s*$", p)
        if m:
            out.append((m.group(1).strip(), m.group(2).strip()))
    return out


def _tonnes(v: str) -> float | None:
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(t|kg)?\s*$", v)
    if not m:
        return None
    x = float(m.group(1))
    return x / 1000 if m.group(2) == "kg" else x


def rules_from_tags(table: EdgeTable) -> tuple[RuleSet, list[str]]:
    """Rules read from the edges' OSM tags, and the conditions that could not be used."""
    skipped: list[str] = []
    groups: dict[tuple[str, str, str], list[int]] = {}  # (effect/kind, value, condition) -> edges

    def add(key: tuple[str, str, str], i: int) -> None:
        groups.setdefault(key, []).append(i)

    for i, tags in enumerate(table.tags):
        for tag, raw in tags.items():
            values = raw if isinstance(raw, list) else [raw]
            for val in (str(x) for x in values):
                if tag in _GROUPS and val.strip().lower() in _NO:
                    add((tag, "no", ""), i)
                elif tag == "maxweight" and _tonnes(val) is not None:
                    add(("maxweight", val.strip(), ""), i)
                elif tag.endswith(":conditional"):
                    base = tag.removesuffix(":conditional")
                    for v, cond in parse_conditional(val):
                        try:
                            parse_hours(cond)
                        except HoursError:
                            skipped.append(
                                f"edge {table.u[i]}->{table.v[i]}: {tag}={val!r}: condition {cond!r} is not a time"
                            )
                            continue
                        if base in _GROUPS and v.lower() in _NO:
                            add((tag, "no", cond), i)
                        elif base == "maxweight" and _tonnes(v) is not None:
                            add((tag, v, cond), i)
    rules = []
    for n, ((tag, val, cond), edges) in enumerate(sorted(groups.items()), start=1):
        ways = frozenset(w for e in edges for w in table.way_ids[e])
        base = tag.removesuffix(":conditional")
        common: dict[str, Any] = {
            "id": f"osm:{tag}#{n}",
            "title": f"OSM {tag}={val}" + (f" @ ({cond})" if cond else ""),
            "district": "*",
            "source": "OpenStreetMap tags",
            "where": Where(way_ids=ways),
            "when": cond or None,
            "origin": "osm",
        }
        if base == "maxweight":
            t = _tonnes(val)
            rules.append(Rule(effect="max_weight", max_weight_t=t, **common))
        else:
            rules.append(Rule(effect="no_entry", vehicles=_GROUPS[base], **common))
    return RuleSet(tuple(rules), ("osm",)), skipped
