"""Truck speed profiles: km/h by OSM highway type, per vehicle class profile.

Urban Chinese defaults for small trucks: well below the posted limits because of
traffic, junctions and the rule that goods vehicles keep to the outer lanes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

_BASE: dict[str, float] = {
    "motorway": 60.0,
    "motorway_link": 35.0,
    "trunk": 45.0,
    "trunk_link": 30.0,
    "primary": 32.0,
    "primary_link": 25.0,
    "secondary": 28.0,
    "secondary_link": 22.0,
    "tertiary": 24.0,
    "tertiary_link": 20.0,
    "unclassified": 20.0,
    "residential": 15.0,
    "living_street": 8.0,
    "service": 10.0,
    "busway": 20.0,
    "road": 15.0,
}

#: Seconds lost at a node tagged highway=traffic_signals (average red-light wait).
SIGNAL_DELAY_S = 15.0


def _scaled(factor: float, cap: float | None = None) -> Mapping[str, float]:
    out = {k: v * factor for k, v in _BASE.items()}
    if cap is not None:
        out = {k: min(v, cap) for k, v in out.items()}
    return MappingProxyType(out)


#: Named profiles. A vehicle class refers to one of these by name.
PROFILES: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "light_truck": _scaled(1.0),
        "light_electric": _scaled(1.0, cap=50.0),
        "box_truck": _scaled(0.85),
    }
)

DEFAULT_SPEED_KMH = 15.0


def parse_maxspeed(value: object) -> float | None:
    """Return a maxspeed tag in km/h, or None when it is absent or unreadable.

    Handles ``"60"``, ``"30 mph"`` and lists (osmnx merges tags of simplified ways).
    """
    if value is None:
        return None
    if isinstance(value, list):
        speeds = [s for s in (parse_maxspeed(v) for v in value) if s is not None]
        return min(speeds) if speeds else None
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(mph)?", str(value))
    if not m:
        return None
    kmh = float(m.group(1))
    return kmh * 1.609344 if m.group(2) else kmh


def edge_speed_kmh(
    profile: str,
    highway: object,
    maxspeed: object = None,
    *,
    overrides: Mapping[str, float] | None = None,
) -> float:
    """Speed in km/h for a class ``profile`` on an edge of type ``highway``.

    Raises
    ------
    KeyError
        When ``profile`` is not a known profile name.
    """
    table = {**PROFILES[profile], **(overrides or {})}
    kinds = highway if isinstance(highway, list) else [highway]
    speeds = [table[k] for k in kinds if isinstance(k, str) and k in table]
    speed = min(speeds) if speeds else DEFAULT_SPEED_KMH
    limit = parse_maxspeed(maxspeed)
    if limit is not None and limit > 0:
        speed = min(speed, limit)
    return speed


def load_speed_config(path: str | os.PathLike[str]) -> dict[str, dict[str, float]]:
    """Read speed overrides: a YAML (or JSON) mapping ``profile -> {highway: km/h}``.

    Example::

        light_truck:
          primary: 28
          residential: 12
        box_truck:
          trunk: 35

    Raises
    ------
    ProblemError
        Naming the file, profile and key of the first bad entry.
    """
    import yaml

    from routing.errors import ProblemError

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ProblemError(f"{path}: no such speed config file") from None
    except yaml.YAMLError as exc:
        raise ProblemError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ProblemError(f"{path}: must map profile names to {{highway: km/h}}")
    out: dict[str, dict[str, float]] = {}
    for prof, table in data.items():
        if prof not in PROFILES:
            raise ProblemError(f"{path}: unknown profile {prof!r}; known: {sorted(PROFILES)}")
        if not isinstance(table, dict):
            raise ProblemError(f"{path}: {prof}: must map highway types to km/h")
        for hw, kmh in table.items():
            if isinstance(kmh, bool) or not isinstance(kmh, int | float) or not 1 <= kmh <= 130:
                raise ProblemError(
                    f"{path}: {prof}.{hw}: speed must be a number of km/h in 1..130, got {kmh!r}"
                )
        out[prof] = {str(k): float(v) for k, v in table.items()}
    return out
