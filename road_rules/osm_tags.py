"""OSM access tags on the graph turned into rules.

Every distinct set of access tags (the hierarchy, ``*:conditional``, dimension limits,
``highway=busway``, ``oneway:conditional``) becomes one ``osm_access`` rule over its
edges, with an id like ``osm:motor_vehicle=permit#3`` so the legality checker cites it;
:mod:`road_rules.access` reads the tags for each vehicle. Where a rule file and a tag
disagree, both are applied: whichever forbids more wins.
"""

from __future__ import annotations

import re
from typing import Any

from road_rules.edges import EdgeTable
from road_rules.model import Rule, RuleSet, Where


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


def _hashable(v: Any) -> Any:
    return tuple(str(x) for x in v) if isinstance(v, list) else v


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


#: Tags that alone never restrict anyone: an edge with only these needs no rule.
_NEUTRAL = ("highway", "oneway", "reversed")


def rules_from_tags(table: EdgeTable) -> tuple[RuleSet, list[str]]:
    """One ``osm_access`` rule per distinct set of access tags on the graph's edges, and
    the tag values or conditions that could not be read.

    The rule carries the tags; :func:`road_rules.access.access_periods` decides, per
    vehicle and day, when its edges are closed, permit-only or destination-only (see the
    tag table in docs/road-rules.md). Ids read ``osm:<tags>#n`` so violations cite them.
    """
    from road_rules.access import ACCESS_TAGS, unreadable

    groups: dict[tuple[tuple[str, Any], ...], list[int]] = {}
    for i, tags in enumerate(table.tags):
        sig = tuple(
            sorted((k, _hashable(v)) for k, v in tags.items() if k in ACCESS_TAGS and v is not None)
        )
        keys = {k for k, _ in sig}
        hw = dict(sig).get("highway")
        bus = hw in ("busway", "bus_guideway") or (
            isinstance(hw, tuple) and bool({"busway", "bus_guideway"} & set(hw))
        )
        if keys <= set(_NEUTRAL) and not bus:
            continue
        if "oneway:conditional" not in keys:
            sig = tuple((k, v) for k, v in sig if k != "reversed")
        groups.setdefault(sig, []).append(i)
    rules = []
    skipped: list[str] = []
    for n, (sig, edges) in enumerate(sorted(groups.items(), key=lambda kv: kv[1][0]), start=1):
        tags = {k: _plain(v) for k, v in sig}
        shown = "; ".join(
            f"{k}={'/'.join(v) if isinstance(v, tuple) else v}"
            for k, v in sig
            if k not in ("reversed", "oneway")
            and (k != "highway" or len(sig) == 1 or "bus" in str(v))
        )
        for msg in unreadable(tags):
            skipped.append(
                f"{len(edges)} edge(s) from {table.u[edges[0]]}->{table.v[edges[0]]}: {msg}"
            )
        rules.append(
            Rule(
                id=f"osm:{shown or 'access'}#{n}",
                title=f"OSM {shown}",
                district="*",
                effect="osm_access",
                source="OpenStreetMap tags",
                where=Where(edges=frozenset(edges)),
                origin="osm",
                osm_tags=sig,
            )
        )
    return RuleSet(tuple(rules), ("osm",)), skipped
