"""The materials Loopvan collects, and which need a tail-lift truck."""

from __future__ import annotations

MATERIALS: tuple[str, ...] = (
    "paper",
    "metal",
    "plastic",
    "glass",
    "textiles",
    "e_waste",
    "furniture",
    "appliances",
)

#: Bulky items that need a box truck with a tail lift.
TAIL_LIFT_MATERIALS = frozenset({"furniture", "appliances"})

#: Materials whose chain of custody is tracked source to treatment.
TRACKED_MATERIALS = frozenset({"e_waste", "appliances"})
