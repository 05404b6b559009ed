"""Which edges a vehicle class may never use, from the OSM tags on the graph.

The verdict is :func:`road_rules.access.always_closed`: the OSM access hierarchy
(``access`` → ``vehicle`` → ``motor_vehicle`` → ``goods``/``hgv``, most specific wins),
``highway=busway``, ``access=bus`` and the dimension limits (``maxheight``, ``maxwidth``,
``maxlength``, ``maxweight``, ``maxaxleload``) against the class's dimensions, counted only
where no ``:conditional`` tag can lift them. ``permit`` and ``destination`` roads are not
barred here: road_rules and the legality replay handle them, as they do timed rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from road_rules.access import DIMENSION_KEYS, always_closed, parse_metres, parse_tonnes
from road_rules.model import VehicleInfo
from routing.errors import ProblemError
from routing.speeds import PROFILES

__all__ = ["HGV_THRESHOLD_KG", "ClassSpec", "barred_reason", "parse_metres", "parse_tonnes"]

#: OSM counts goods vehicles above this gross weight as hgv.
HGV_THRESHOLD_KG = 3500


@dataclass(frozen=True)
class ClassSpec:
    """A vehicle class as routing sees it: speed profile and physical dimensions.

    ``speed_overrides`` are ``(highway, km/h)`` pairs that replace the profile's defaults.
    ``axle_load_t`` 0 means estimated (60 % of the gross weight, see
    :attr:`road_rules.model.VehicleInfo.max_axle_load_t`).
    """

    profile: str
    gross_weight_kg: int = HGV_THRESHOLD_KG
    height_m: float = 2.8
    length_m: float = 6.0
    speed_overrides: tuple[tuple[str, float], ...] = ()
    width_m: float = 2.1
    axle_load_t: float = 0.0

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ProblemError(f"unknown speed profile {self.profile!r}; known: {sorted(PROFILES)}")
        if self.gross_weight_kg <= 0 or self.height_m <= 0 or self.length_m <= 0:
            raise ProblemError(f"class {self.profile}: weight, height and length must be positive")
        if self.width_m <= 0 or self.axle_load_t < 0:
            raise ProblemError(
                f"class {self.profile}: width must be positive and axle load not negative"
            )
        for hw, kmh in self.speed_overrides:
            if kmh <= 0:
                raise ProblemError(f"speed for {hw!r} must be positive, got {kmh}")

    @property
    def is_hgv(self) -> bool:
        """Whether OSM's hgv tags apply (gross weight above 3.5 t)."""
        return self.gross_weight_kg > HGV_THRESHOLD_KG

    @property
    def vehicle(self) -> VehicleInfo:
        """The class as road_rules' access evaluator sees a vehicle (no plate, no permits)."""
        return VehicleInfo(
            plate="",
            vehicle_class=self.profile,
            weight_class="",
            fuel="",
            gross_weight_kg=self.gross_weight_kg,
            height_m=self.height_m,
            width_m=self.width_m,
            length_m=self.length_m,
            axle_load_t=self.axle_load_t,
        )


def barred_reason(spec: ClassSpec, tags: Mapping[str, Any]) -> str | None:
    """Why a class may never use an edge with these tags, or None when it may.

    The deciding tag: ``"hgv=no"``, ``"access=private"``, ``"highway=busway"``, ...; a
    dimension limit by its key alone (``"maxweight"``, ``"maxheight"``, ...).
    """
    closed = always_closed(tags, spec.vehicle)
    if closed is None:
        return None
    key = closed.tag.partition("=")[0]
    return key if key in DIMENSION_KEYS else closed.tag
