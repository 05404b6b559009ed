"""Solver benchmark on Solomon / Gehring–Homberger instances: gap to the best-known
distances per engine and time limit, side by side in one run."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from routing.vrplib_solve import read_instance, solve_instance

DEFAULT_SET = [
    "C101",
    "C201",
    "R101",
    "R201",
    "RC101",
    "RC201",
    "R105",
    "RC105",
    "C1_2_1",
    "R1_2_1",
    "C1_4_1",
]


def _files(bench_dir: Path) -> dict[str, Path]:
    return {
        p.stem: p
        for p in [*(bench_dir / "solomon").glob("*.txt"), *(bench_dir / "gh").glob("*.vrp")]
    }


def _set(name: str) -> str:
    if "_2_" in name:
        return "GH200"
    if "_4_" in name:
        return "GH400"
    return "Solomon"


def run_solver_bench(
    *,
    bench_dir: Path,
    instances: list[str] | None,
    limits: list[float],
    engines: list[str],
    as_json: bool,
) -> list[dict[str, Any]]:
    """Run and print the benchmark; return its rows."""
    bks = {
        r["instance"]: float(r["reference_distance"])
        for r in csv.DictReader((bench_dir / "bks.csv").open())
    }
    files = _files(bench_dir)
    names = instances or [n for n in DEFAULT_SET if n in files]
    rows: list[dict[str, Any]] = []
    for name in names:
        inst = read_instance(files[name])
        for lim in limits:
            for eng in engines:
                sol = solve_instance(inst, seconds=lim, engine=eng)
                ref = bks.get(name)
                gap = (sol.distance / ref - 1) * 100 if ref and sol.feasible else None
                row = {
                    "kind": "vrplib",
                    "set": _set(name),
                    "instance": name,
                    "engine": eng,
                    "time_limit": lim,
                    "distance": round(sol.distance, 2),
                    "reference": ref,
                    "gap_pct": gap,
                    "vehicles": sol.vehicles,
                    "feasible": sol.feasible,
                }
                rows.append(row)
                if as_json:
                    print(json.dumps(row), flush=True)
                else:
                    g = f"{gap:.2f}%" if gap is not None else "infeasible"
                    print(
                        f"{name:8s} {eng:8s} {lim:5.0f}s  {sol.distance:10.2f}  ref {ref or 0:10.2f}  gap {g}",
                        flush=True,
                    )
    if not as_json:
        print("\nmean gap by set, engine, time limit:")
        keys = sorted({(r["set"], r["engine"], r["time_limit"]) for r in rows})
        for k in keys:
            gaps = [r["gap_pct"] for r in rows if (r["set"], r["engine"], r["time_limit"]) == k]
            ok = [x for x in gaps if x is not None]
            mean = f"{sum(ok) / len(ok):.2f}%" if ok else "-"
            print(
                f"  {k[0]:8s} {k[1]:8s} {k[2]:5.0f}s  mean gap {mean}  ({len(ok)}/{len(gaps)} feasible)"
            )
    return rows
