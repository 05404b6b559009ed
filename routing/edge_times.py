"""Seconds to drive one exact edge ``(u, v, key)`` for a vehicle: what the legality replay
recomputes leg timings with (road_rules.legality's ``edge_seconds``).

The time is the compiled graph's for the vehicle's class (speed profile, dimensions and
speed overrides), so the replay and the planner agree to the millisecond.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from routing.compiled import CompiledGraph, compile_graph
from routing.errors import ProblemError
from routing.network import RoadNetwork
from routing.restrictions import ClassSpec

#: The profile assumed for a plan JSON vehicle that names none.
FALLBACK_PROFILE = "light_truck"


def key_index(network: RoadNetwork, cg: CompiledGraph) -> dict[tuple[int, int, int], int]:
    """OSM ``(u, v, key)`` -> edge index of ``cg`` (memoised on the network)."""
    memo_key = ("edge_key_index", cg.spec)
    hit: dict[tuple[int, int, int], int] | None = network._compiled.get(memo_key)
    if hit is None:
        ids = cg.osm_ids
        hit = {
            (int(ids[u]), int(ids[v]), int(k)): e
            for e, (u, v, k) in enumerate(zip(cg.eu, cg.ev, cg.ekey, strict=True))
        }
        network._compiled[memo_key] = hit
    return hit


def spec_from_vehicle(
    veh: dict[str, Any],
    fallback: ClassSpec | None = None,
    speeds: dict[str, dict[str, float]] | None = None,
) -> tuple[ClassSpec, str | None]:
    """The routing class of a plan JSON vehicle (``speed_profile``, ``gross_weight_kg``,
    ``height_m``, ``length_m``, ``width_m``), with the speed overrides of its profile;
    ``fallback`` when the JSON names no profile, else the :data:`FALLBACK_PROFILE`.

    Returns the spec and a note when it is not the vehicle's own.
    """
    profile = veh.get("speed_profile")
    if profile:
        base = fallback or ClassSpec(FALLBACK_PROFILE)
        try:
            spec = ClassSpec(
                str(profile),
                int(veh.get("gross_weight_kg") or base.gross_weight_kg),
                float(veh.get("height_m") or base.height_m),
                float(veh.get("length_m") or base.length_m),
                tuple(sorted((speeds or {}).get(str(profile), {}).items())),
                width_m=float(veh.get("width_m") or base.width_m),
                axle_load_t=float(veh.get("axle_load_t") or base.axle_load_t),
            )
        except ProblemError as exc:
            if fallback is not None:
                return fallback, f"{veh.get('plate')}: {exc}; timings recomputed for its class"
            return ClassSpec(FALLBACK_PROFILE), (
                f"{veh.get('plate')}: {exc}; timings recomputed for {FALLBACK_PROFILE}"
            )
        return spec, None
    if fallback is not None:
        return fallback, None
    return ClassSpec(FALLBACK_PROFILE), (
        f"{veh.get('plate')}: the plan names no speed profile; timings recomputed for "
        f"{FALLBACK_PROFILE}"
    )


def edge_seconds(
    network: RoadNetwork, spec_of: Callable[[dict[str, Any]], ClassSpec]
) -> Callable[[dict[str, Any], int, int, int | None], float | None]:
    """``f(vehicle JSON, u, v, key)``: seconds to drive the whole edge for the vehicle's
    class ``spec_of(vehicle)``; ``key`` None: the fastest parallel edge; None when the
    class may not use the edge (or it is not in the graph)."""
    graphs: dict[str, tuple[CompiledGraph, dict[tuple[int, int, int], int]]] = {}

    def seconds(veh: dict[str, Any], u: int, v: int, key: int | None) -> float | None:
        plate = str(veh.get("plate"))
        hit = graphs.get(plate)
        if hit is None:  # once per vehicle, not per edge
            cg0 = compile_graph(network, spec_of(veh))
            hit = graphs[plate] = (cg0, key_index(network, cg0))
        cg, index = hit
        if key is None:
            es = cg.edge_of.get((u, v))
            return min(float(cg.ems[e]) for e in es) / 1000.0 if es else None
        e = index.get((u, v, key))
        return None if e is None else float(cg.ems[e]) / 1000.0

    return seconds
