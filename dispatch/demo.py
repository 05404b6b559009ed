"""A seeded generator of a plausible demo scenario on the real road graph.

There is no public source of compound (小区) locations or recycling facilities for
Shenzhen, so they are placed on roads of the right type inside the real district
polygons: depots and transfer stations on secondary/tertiary roads, collection
points and bookings on residential streets.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from shapely.geometry import Point, shape

from dispatch.materials import MATERIALS
from dispatch.scenario import FORMAT
from routing.network import RoadNetwork

# The bundled extract covers most of Futian and eastern Nanshan; coverage thins east of 114.085.
DEMO_DISTRICTS = {"440304": ("福田", 0.6), "440305": ("南山", 0.4)}
MAX_LON = 114.08

_PLACES = [
    "景田",
    "莲花",
    "香蜜",
    "梅林",
    "彩田",
    "华富",
    "福华",
    "岗厦",
    "皇岗",
    "益田",
    "石厦",
    "新洲",
    "沙头",
    "上沙",
    "下沙",
    "车公庙",
    "竹子林",
    "侨香",
    "香林",
    "农园",
    "蛇口",
    "后海",
    "南油",
    "华侨城",
    "白石洲",
    "深圳湾",
    "科技园",
    "桃园",
    "南头",
    "荔林",
]
_SUFFIX = ["花园", "小区", "新村", "苑", "家园", "雅苑", "名苑", "公寓", "华庭", "大厦"]
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
_GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "涛",
    "明",
    "超",
    "秀英",
    "建华",
    "志强",
    "海燕",
    "晓东",
    "丽娟",
]

#: (material, probability weight, kg range, m³ per kg)
_ITEMS = [
    ("paper", 30, (5, 40), 0.006),
    ("metal", 10, (3, 30), 0.002),
    ("plastic", 14, (2, 15), 0.015),
    ("glass", 6, (3, 20), 0.002),
    ("textiles", 12, (3, 25), 0.008),
    ("e_waste", 10, (2, 15), 0.004),
    ("furniture", 8, (15, 80), 0.015),
    ("appliances", 10, (20, 70), 0.008),
]
_SLOTS = [
    ("09:00", "11:00"),
    ("10:00", "12:00"),
    ("14:00", "16:00"),
    ("15:00", "17:00"),
    ("09:00", "12:00"),
    ("14:00", "17:30"),
    ("09:30", "11:30"),
    ("13:30", "15:30"),
]


def _edges_by_type(
    network: RoadNetwork, polygons: dict[str, Any]
) -> dict[str, dict[str, list[Any]]]:
    out: dict[str, dict[str, list[Any]]] = {code: {} for code in polygons}
    g = network.graph
    for u, v, _k, d in g.edges(keys=True, data=True):
        hw = d.get("highway")
        # osmnx lists a merged way's road types in an order that varies between graph
        # builds: take the first in sorted order, so every process generates the same day.
        hw = sorted(hw)[0] if isinstance(hw, list) else hw
        if d.get("length", 0) < 40:
            continue
        if any(k in d for k in ("access", "motor_vehicle", "hgv", "goods", "maxweight")):
            continue  # keep generated places off private or restricted roads
        geom = d.get("geometry")
        x = (g.nodes[u]["x"] + g.nodes[v]["x"]) / 2
        y = (g.nodes[u]["y"] + g.nodes[v]["y"]) / 2
        if x > MAX_LON:
            continue
        pt = Point(x, y)
        for code, poly in polygons.items():
            if poly.contains(pt):
                out[code].setdefault(str(hw), []).append((u, v, geom, d.get("name")))
                break
    return out


def _point_on(
    network: RoadNetwork, rng: random.Random, edge: Any, offset_m: float
) -> tuple[float, float]:
    u, v, geom, _name = edge
    g = network.graph
    if geom is None:
        from shapely.geometry import LineString

        geom = LineString([(g.nodes[u]["x"], g.nodes[u]["y"]), (g.nodes[v]["x"], g.nodes[v]["y"])])
    f = rng.uniform(0.2, 0.8)
    p = geom.interpolate(f, normalized=True)
    a = geom.interpolate(max(0.0, f - 0.01), normalized=True)
    b = geom.interpolate(min(1.0, f + 0.01), normalized=True)
    dx, dy = b.x - a.x, b.y - a.y
    norm = (dx * dx + dy * dy) ** 0.5 or 1.0
    side = rng.choice((-1, 1))
    deg = offset_m / 111_000.0
    return round(p.y + side * dx / norm * deg, 6), round(p.x - side * dy / norm * deg, 6)


def generate(
    network: RoadNetwork,
    districts: list[dict[str, Any]],
    day: dt.date,
    *,
    seed: int = 7,
    n_points: int = 60,
    n_bookings: int = 150,
    n_vans: int = 12,
    n_stations: int = 8,
) -> dict[str, Any]:
    """A demo scenario for ``day`` in the scenario format.

    ``districts`` are GeoJSON features with ``code`` and ``name_zh`` properties; only
    Futian and Nanshan (the bundled extract) are used.
    """
    rng = random.Random(seed)
    polygons = {
        f["properties"]["code"]: shape(f["geometry"])
        for f in districts
        if f["properties"].get("code") in DEMO_DISTRICTS
    }
    edges = _edges_by_type(network, polygons)

    def pick(code: str, kinds: tuple[str, ...]) -> Any:
        pool = [e for k in kinds for e in edges[code].get(k, [])]
        return rng.choice(pool)

    def split(n: int) -> dict[str, int]:
        codes = sorted(polygons)
        counts = {c: round(n * DEMO_DISTRICTS[c][1]) for c in codes}
        counts[codes[0]] += n - sum(counts.values())
        return counts

    def person() -> str:
        return rng.choice(_SURNAMES) + rng.choice(_GIVEN)

    sc: dict[str, Any] = {
        "format": FORMAT,
        "coordinates": "wgs84",
        "date": day.isoformat(),
        "vehicle_classes": [
            {
                "code": "light_electric",
                "name": "纯电动轻型厢式货车",
                "weight_class": "light",
                "gross_weight_kg": 4495,
                "fuel": "electric",
                "speed_profile": "light_electric",
                "tail_lift": False,
                "height_m": 2.9,
                "length_m": 5.99,
                "width_m": 2.05,
            },
            {
                "code": "light_diesel",
                "name": "柴油轻型厢式货车",
                "weight_class": "light",
                "gross_weight_kg": 4495,
                "fuel": "diesel",
                "speed_profile": "light_truck",
                "tail_lift": False,
                "height_m": 2.9,
                "length_m": 5.99,
                "width_m": 2.05,
            },
            {
                "code": "box_tail_lift",
                "name": "带尾板厢式货车",
                "weight_class": "medium",
                "gross_weight_kg": 7500,
                "fuel": "diesel",
                "speed_profile": "box_truck",
                "tail_lift": True,
                "height_m": 3.4,
                "length_m": 7.2,
                "width_m": 2.3,
            },
        ],
    }
    depots = []
    for i, code in enumerate(sorted(polygons)):
        lat, lon = _point_on(network, rng, pick(code, ("tertiary", "secondary")), 20)
        depots.append(
            {
                "id": f"DEP-{i + 1}",
                "name": f"{DEMO_DISTRICTS[code][0]}车队基地",
                "lat": lat,
                "lon": lon,
                "_district": code,
            }
        )
    sc["depots"] = [{k: v for k, v in d.items() if not k.startswith("_")} for d in depots]

    stations = []
    kinds = [
        ("综合中转站", list(MATERIALS), "Mo-Su 07:00-21:00"),
        ("综合中转站", list(MATERIALS), "Mo-Su 06:30-22:00"),
        ("再生资源中转站", ["paper", "metal", "plastic", "glass", "textiles"], "Mo-Sa 08:00-18:00"),
        (
            "废旧家电家具中转站",
            ["e_waste", "appliances", "furniture", "metal"],
            "Mo-Fr 09:00-17:00; PH off",
        ),
    ]
    n = 0
    for code, count in split(n_stations).items():
        for j in range(count):
            title, accepts, hours = kinds[j % len(kinds)]
            lat, lon = _point_on(network, rng, pick(code, ("secondary", "tertiary")), 25)
            n += 1
            stations.append(
                {
                    "id": f"TS-{n:02d}",
                    "name": f"{rng.choice(_PLACES)}{title}",
                    "lat": lat,
                    "lon": lon,
                    "opening_hours": hours,
                    "accepts": accepts,
                    "unload_minutes": rng.choice((15, 20, 25)),
                    "daily_intake_kg": rng.choice((20000, 30000, 50000)),
                }
            )
    sc["transfer_stations"] = stations

    points = []
    n = 0
    used_names: set[str] = set()
    for code, count in split(n_points).items():
        for _ in range(count):
            lat, lon = _point_on(network, rng, pick(code, ("residential", "living_street")), 25)
            compound = rng.choice(_PLACES) + rng.choice(_SUFFIX)
            while compound in used_names:
                compound = (
                    rng.choice(_PLACES) + rng.choice(_SUFFIX) + rng.choice("一二三四五") + "期"
                )
            used_names.add(compound)
            n += 1
            households = rng.randrange(300, 2500, 50)
            kg = round(households * rng.uniform(0.05, 0.1))
            days = "Mo,We,Fr" if n % 2 else "Tu,Th,Sa"
            points.append(
                {
                    "id": f"CP-{n:03d}",
                    "name": f"{compound}回收点",
                    "compound": compound,
                    "lat": lat,
                    "lon": lon,
                    "households": households,
                    "stationing_hours": f"{days} 09:00-11:30,14:30-17:00; PH off",
                    "dwell_minutes": rng.choice((30, 30, 45)),
                    "expected_kg": kg,
                    "expected_m3": round(kg / 120.0, 2),
                }
            )
    sc["collection_points"] = points

    vehicles, drivers = [], []
    per_depot = split(n_vans)
    cls_cycle = [
        ("box_tail_lift", 2000, 16.0),
        ("light_electric", 1200, 6.0),
        ("light_diesel", 1500, 8.0),
    ]
    n = 0
    for depot in depots:
        for j in range(per_depot[depot["_district"]]):
            cls, kg, m3 = cls_cycle[j % 3]
            n += 1
            plate = (
                f"粤BD{rng.randrange(10000, 99999)}"
                if cls == "light_electric"
                else f"粤B{rng.choice('ACFGKLM')}{rng.randrange(1000, 9999)}"
            )
            start = rng.choice(("07:30", "08:00", "08:00"))
            end = {"07:30": "17:30", "08:00": "18:00"}[start]
            vehicles.append(
                {
                    "plate": plate,
                    "class": cls,
                    "depot": depot["id"],
                    "capacity_kg": kg,
                    "capacity_m3": m3,
                    "shift": {"start": start, "end": end},
                    "break": {"start": "12:00", "end": "14:00", "minutes": 30},
                    # Shenzhen grants pure-electric logistics vans road rights at peak hours.
                    "permits": ["SZ-EV-LOGISTICS"] if cls == "light_electric" else [],
                }
            )
            drivers.append(
                {
                    "id": f"DRV-{n:02d}",
                    "name": person(),
                    "phone": f"13{rng.randrange(100000000, 999999999)}",
                    "vehicle": plate,
                }
            )
    sc["vehicles"] = vehicles
    sc["drivers"] = drivers

    bookings = []
    weights = [w for _m, w, _r, _v in _ITEMS]
    n = 0
    for code, count in split(n_bookings).items():
        for _ in range(count):
            lat, lon = _point_on(
                network,
                rng,
                pick(code, ("residential", "living_street", "unclassified", "tertiary")),
                20,
            )
            items: dict[str, dict[str, Any]] = {}
            for _ in range(rng.choice((1, 1, 2, 2, 3))):
                mat, _w, (lo, hi), per_kg = rng.choices(_ITEMS, weights)[0]
                kg = rng.randint(lo, hi)
                it = items.setdefault(mat, {"material": mat, "kg": 0, "m3": 0.0})
                it["kg"] += kg
                it["m3"] = round(it["m3"] + kg * per_kg, 3)
            start, end = rng.choice(_SLOTS)
            n += 1
            compound = rng.choice(_PLACES) + rng.choice(_SUFFIX)
            bookings.append(
                {
                    "reference": f"BK-{day:%y%m%d}-{n:04d}",
                    "resident": {
                        "name": person(),
                        "phone": f"1{rng.choice('3589')}{rng.randrange(100000000, 999999999)}",
                    },
                    "address": f"深圳市{DEMO_DISTRICTS[code][0]}区{compound}{rng.randint(1, 12)}栋{rng.randint(1, 30)}{rng.randint(1, 4):02d}",
                    "lat": lat,
                    "lon": lon,
                    "materials": list(items.values()),
                    "date": day.isoformat(),
                    "window": {"start": start, "end": end},
                    "priority": 0,
                }
            )
    sc["bookings"] = bookings
    return sc
