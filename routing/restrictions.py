"""Which edges a vehicle class may never use, from the OSM tags on the graph.

Permanent physical and legal limits only (``hgv=no``, ``goods=no``, ``maxweight``,
``maxheight``, ``maxlength``, ``motor_vehicle=no``); timed rules come from road_rules as
per-band forbidden edge sets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from routing.errors import ProblemError
from routing.speeds import PROFILES

#: OSM counts goods vehicles above this gross weight as hgv.
HGV_THRESHOLD_KG = 3500
_NO = {"no", "private", "agricultural", "forestry", "delivery_no"}


@dataclass(frozen=True)
class ClassSpec:
    """A vehicle class as routing sees it: speed profile and physical dimensions.

    ``speed_overrides`` are ``(highway, km/h)`` pairs that replace the profile's defaults.
    """

    profile: str
    gross_weight_kg: int = HGV_THRESHOLD_KG
    height_m: float = 2.8
    length_m: float = 6.0
    speed_overrides: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ProblemError(f"unknown speed profile {self.profile!r}; known: {sorted(PROFILES)}")
        if self.gross_weight_kg <= 0 or self.height_m <= 0 or self.length_m <= 0:
            raise ProblemError(f"class {self.profile}: weight, height and length must be positive")
        for hw, kmh in self.speed_overrides:
            if kmh <= 0:
                raise ProblemError(f"speed for {hw!r} must be positive, got {kmh}")

    @property
    def is_hgv(self) -> bool:
        """Whether OSM's hgv tags apply (gross weight above 3.5 t)."""
        return self.gross_weight_kg > HGV_THRESHOLD_KG


def _values(v: Any) -> list[str]:
    if v is None:
        return []
    return [str(x).strip().lower() for x in (v if isinstance(v, list) else [v])]


def parse_tonnes(value: Any) -> float | None:
    """A ``maxweight`` value in tonnes: ``"10"``, ``"5.5 t"``, ``"3500 kg"``; the minimum of lists."""
    out = []
    for s in _values(value):
        m = re.match(r"^(\d+(?:\.\d+)?)\s*(t|kg|st|lbs)?$", s)
        if not m:
            continue
        x = float(m.group(1))
        unit = m.group(2) or "t"
        out.append({"t": x, "kg": x / 1000, "st": x * 0.907185, "lbs": x * 0.000453592}[unit])
    return min(out) if out else None


def parse_metres(value: Any) -> float | None:
    """A ``maxheight``/``maxlength`` value in metres: ``"3.5"``, ``"3.5 m"``, ``"12'6\\""``."""
    out = []
    for s in _values(value):
        m = re.match(r"^(\d+(?:\.\d+)?)\s*m?$", s)
        if m:
            out.append(float(m.group(1)))
            continue
        m = re.match(r"^(\d+)'\s*(?:(\d+)\")?$", s)
        if m:
            out.append(int(m.group(1)) * 0.3048 + int(m.group(2) or 0) * 0.0254)
    return min(out) if out else None


def barred_reason(spec: ClassSpec, tags: Mapping[str, Any]) -> str | None:
    """Why a class may never use an edge with these tags, or None when it may."""
    if any(v in _NO for v in _values(tags.get("motor_vehicle"))):
        return "motor_vehicle=no"
    if any(v in _NO for v in _values(tags.get("goods"))):
        return "goods=no"
    if spec.is_hgv and any(v in _NO for v in _values(tags.get("hgv"))):
        return "hgv=no"
    w = parse_tonnes(tags.get("maxweight"))
    if w is not None and spec.gross_weight_kg / 1000 > w:
        return "maxweight"
    h = parse_metres(tags.get("maxheight"))
    if h is not None and spec.height_m > h:
        return "maxheight"
    ln = parse_metres(tags.get("maxlength"))
    if ln is not None and spec.length_m > ln:
        return "maxlength"
    return None
