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

#: Names shown to drivers and residents: (Chinese, English).
MATERIAL_NAMES: dict[str, tuple[str, str]] = {
    "paper": ("纸类", "Paper"),
    "metal": ("金属", "Metal"),
    "plastic": ("塑料", "Plastic"),
    "glass": ("玻璃", "Glass"),
    "textiles": ("纺织物", "Textiles"),
    "e_waste": ("电子废弃物", "E-waste"),
    "furniture": ("大件家具", "Furniture"),
    "appliances": ("家电", "Appliances"),
}

#: Rough bulk volume per kilogram as residents hand it over (loose, not compacted), so the
#: planner can check van volume as well as weight when a resident only tells us kilograms.
VOLUME_M3_PER_KG: dict[str, float] = {
    "paper": 0.006,
    "metal": 0.003,
    "plastic": 0.015,
    "glass": 0.003,
    "textiles": 0.008,
    "e_waste": 0.005,
    "furniture": 0.012,
    "appliances": 0.008,
}
DEFAULT_M3_PER_KG = 0.008
