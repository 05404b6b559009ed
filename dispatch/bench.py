"""The Shenzhen scenario benchmark: the full planner at three sizes on the bundled graph."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from dispatch.settings import Settings

SIZES = ((150, 12), (600, 40), (2000, 120))


def run_shenzhen_bench(
    settings: Settings,
    limits: list[float],
    as_json: bool,
    sizes: tuple[tuple[int, int], ...] = SIZES,
) -> list[dict[str, Any]]:
    """Build plans for generated scenarios of ``sizes`` (stops, vans); report time, legality, unassigned."""
    from dispatch.cli import build_plans, do_import, export
    from dispatch.demo import generate
    from routing.network import load_network

    rows = []
    day = dt.date(2026, 12, 1)
    fc = json.loads(Path(settings.districts_path).read_text(encoding="utf-8"))
    net = load_network(settings.osm_path)
    for n_stops, n_vans in sizes:
        points = max(60, n_stops // 10)
        for lim in limits:
            with tempfile.TemporaryDirectory() as tmp:
                s = dataclasses.replace(settings, database_url=f"sqlite:///{tmp}/b.db")
                # About half the collection points are due on a given day.
                sc = generate(
                    net,
                    fc["features"],
                    day,
                    seed=7,
                    n_points=points,
                    n_bookings=n_stops - points // 2,
                    n_vans=n_vans,
                    n_stations=max(8, n_vans // 4),
                )
                do_import(s, sc, None)
                t = time.monotonic()
                try:
                    ids = build_plans(s, day, None, lim)
                    doc = export(s, ids)
                    plans = doc.get("plans", [doc])
                    served = sum(
                        1
                        for p in plans
                        for r in p["routes"]
                        for x in r["stops"]
                        if x["kind"] in ("pickup", "station")
                    )
                    unassigned = sum(len(p["unassigned"]) for p in plans)
                    legal = True
                except Exception as exc:
                    print(f"  failed: {exc}")
                    served = unassigned = 0
                    legal = False
                row = {
                    "kind": "shenzhen",
                    "stops": n_stops,
                    "vans": n_vans,
                    "time_limit": lim,
                    "legal": legal,
                    "served": served,
                    "unassigned": unassigned,
                    "unassigned_share": round(unassigned / max(1, served + unassigned), 3),
                    "seconds": round(time.monotonic() - t, 1),
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                }
                rows.append(row)
                print(
                    json.dumps(row)
                    if as_json
                    else f"shenzhen {n_stops} stops / {n_vans} vans @ {lim:.0f}s: legal={legal} served={served} "
                    f"unassigned={unassigned} in {row['seconds']}s, peak {row['peak_rss_mb']} MB",
                    flush=True,
                )
    return rows
