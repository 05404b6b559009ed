"""The ``loopvan`` command line.

Bad input gets a one-paragraph message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dispatch import models as m
from dispatch.planning import PlanningError
from dispatch.settings import DEFAULT_RULES, Settings

_TZ = dt.timezone(dt.timedelta(hours=8))


class UsageError(ValueError):
    """Bad command-line input."""


def _date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {s!r}") from None


def tomorrow() -> dt.date:
    """Tomorrow in Shenzhen."""
    return (dt.datetime.now(_TZ) + dt.timedelta(days=1)).date()


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers], *[[("" if c is None else str(c)) for c in r] for r in rows]]

    def width(s: str) -> int:  # CJK characters take two columns
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)

    widths = [max(width(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append(
            "  ".join(c + " " * (w - width(c)) for c, w in zip(r, widths, strict=True)).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _engine(settings: Settings) -> Any:
    from dispatch.db import make_engine, upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    return engine


def _network(settings: Settings) -> Any:
    from routing.network import load_network

    return load_network(settings.osm_path)


def cmd_network_build(args: argparse.Namespace, settings: Settings) -> int:
    from routing.compiled import compile_graph
    from routing.network import load_network
    from routing.restrictions import ClassSpec

    t = time.monotonic()
    net = load_network(args.osm or settings.osm_path, use_cache=not args.no_cache)
    r = net.report
    print(
        table(
            [
                [
                    Path(r.source).name,
                    r.sha256[:12],
                    r.nodes,
                    r.edges,
                    r.dropped_nodes,
                    r.dropped_edges,
                    "yes" if r.from_cache else "no",
                    f"{time.monotonic() - t:.1f}",
                ]
            ],
            [
                "source",
                "sha256",
                "nodes",
                "edges",
                "dropped nodes",
                "dropped edges",
                "cached",
                "seconds",
            ],
        )
    )
    # What each typical class may never use (permanent tags; timed rules are road_rules').
    specs = [
        ("light (<=3.5 t)", ClassSpec("light_truck")),
        ("light 4.5 t", ClassSpec("light_truck", gross_weight_kg=4495)),
        ("box 7.5 t, 3.4 m", ClassSpec("box_truck", gross_weight_kg=7500, height_m=3.4)),
    ]
    rows = []
    for label, spec in specs:
        cg = compile_graph(net, spec)
        rows.append(
            [
                label,
                len(cg.eu),
                sum(cg.barred.values()),
                ", ".join(f"{k} {v}" for k, v in sorted(cg.barred.items())) or "-",
            ]
        )
    print()
    print(table(rows, ["class", "usable edges", "barred", "barred by"]))
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from dispatch.db import session_scope
    from dispatch.scenario import ensure_districts

    engine = _engine(settings)
    with session_scope(engine) as s:
        n = ensure_districts(s, settings.districts_path)
    print(f"database ready at {settings.database_url} ({n} districts)")
    return 0


def _snap_check(settings: Settings) -> Any:
    from dispatch.planning import snap_check

    return snap_check(_network(settings), settings.max_snap_m)


def do_import(settings: Settings, data: dict[str, Any], gcj02: bool | None) -> dict[str, int]:
    """Import a scenario dict into the configured database (all or nothing)."""
    from dispatch.db import session_scope
    from dispatch.scenario import ensure_districts, import_scenario

    engine = _engine(settings)
    check = _snap_check(settings)
    with session_scope(engine) as s:
        ensure_districts(s, settings.districts_path)
        summary = import_scenario(
            s, data, snap_distance=check, max_snap_m=settings.max_snap_m, gcj02=gcj02
        )
    return summary.counts


def cmd_scenario_import(args: argparse.Namespace, settings: Settings) -> int:
    from dispatch.scenario import load_file

    counts = do_import(settings, load_file(args.file), True if args.gcj02 else None)
    print(table(sorted(counts.items()), ["table", "records"]))
    return 0


def _demo_scenario(settings: Settings, day: dt.date, seed: int) -> dict[str, Any]:
    from dispatch.demo import generate

    fc = json.loads(Path(settings.districts_path).read_text(encoding="utf-8"))
    return generate(_network(settings), fc["features"], day, seed=seed)


def cmd_scenario_generate(args: argparse.Namespace, settings: Settings) -> int:
    sc = _demo_scenario(settings, args.date or tomorrow(), args.seed)
    text = json.dumps(sc, ensure_ascii=False, indent=1)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(
            f"wrote {args.out}: {len(sc['collection_points'])} collection points, "
            f"{len(sc['vehicles'])} vans, {len(sc['bookings'])} bookings"
        )
    else:
        print(text)
    return 0


def build_plans(
    settings: Settings, day: dt.date, districts: list[str] | None, seconds: float
) -> list[int]:
    """Build a plan for each district that has vehicles, through the worker backend
    (local processes, or Celery when ``LOOPVAN_BROKER_URL`` is set); print progress
    and a summary table. Exit status 1 (via :class:`BuildFailed`) when a district failed.
    """
    from dispatch.db import session_scope
    from dispatch.workers import backend_from_env, build_districts

    engine = _engine(settings)
    with session_scope(engine) as s:
        if not districts:
            districts = sorted({d.district.code for d in s.scalars(select(m.Depot))})
    backend = backend_from_env()
    print(f"solving {len(districts)} district(s) on the {backend.name} worker backend ...")
    t0 = time.monotonic()

    shown: dict[int, tuple[str, int]] = {}

    def progress(jobs: list[m.PlanJob]) -> None:
        for j in jobs:
            if shown.get(j.id) == (j.status, j.attempts):
                continue
            shown[j.id] = (j.status, j.attempts)
            if j.status == "running":
                print(f"  {j.district_code}: running on {j.worker} (attempt {j.attempts})")
            elif j.status in ("done", "failed"):
                print(f"  {j.district_code}: {j.status} at {time.monotonic() - t0:.1f}s")

    jobs = build_districts(settings, districts, day, seconds, backend=backend, progress=progress)
    ids = [j.plan_id for j in jobs if j.plan_id is not None]
    rows = []
    with session_scope(engine) as s:
        for j in jobs:
            if j.plan_id is None:
                rows.append(["-", j.district_code, day, "failed", j.error[:60], "", "", "", ""])
                continue
            plan = s.get_one(m.Plan, j.plan_id)
            st = plan.solver_stats
            took = (
                (j.finished_at - j.started_at).total_seconds()
                if j.started_at and j.finished_at
                else 0
            )
            rows.append(
                [
                    plan.id,
                    plan.district.name_en,
                    day,
                    st["vehicles_used"],
                    st["stops_served"],
                    st["stops_unassigned"],
                    f"{st['distance_m'] / 1000:.1f}",
                    f"{st['duration_s'] / 3600:.1f}",
                    f"{took:.1f}",
                ]
            )
    print(
        table(
            rows,
            [
                "plan",
                "district",
                "date",
                "vans",
                "served",
                "unassigned",
                "km",
                "van-hours",
                "seconds",
            ],
        )
    )
    failed = [j for j in jobs if j.status != "done"]
    if failed:
        raise BuildFailed("; ".join(f"{j.district_code}: {j.error or 'failed'}" for j in failed))
    return ids


class BuildFailed(PlanningError):
    """A district's plan could not be built (the reason is on its plan job)."""


def cmd_scheduler(args: argparse.Namespace, settings: Settings) -> int:
    """Run the single scheduler: nightly cut-off drafts, publishing at shift start."""
    import logging

    from dispatch.scheduler import run

    if not _HHMM.match(args.cutoff):
        raise UsageError(f"--cutoff must be HH:MM, got {args.cutoff!r}")
    if args.publish_every <= 0:
        raise UsageError("--publish-every must be a positive number of minutes")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _engine(settings)  # migrate first; the scheduler does not
    return run(
        settings.database_url,
        wait=args.wait,
        cutoff=args.cutoff,
        publish_every_minutes=args.publish_every,
        lease_seconds=args.lease_seconds,
    )


_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run a Celery worker for spread solves (needs ``LOOPVAN_BROKER_URL``)."""
    import os

    if not os.environ.get("LOOPVAN_BROKER_URL"):
        raise UsageError("set LOOPVAN_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to run a worker")
    from dispatch.celery_app import QUEUE, app

    argv = ["worker", "--loglevel", args.loglevel, "--queues", QUEUE]
    argv += ["--concurrency", str(args.concurrency)] if args.concurrency else []
    argv += ["--hostname", args.hostname] if args.hostname else []
    app.worker_main(argv)
    return 0


def cmd_plan_build(args: argparse.Namespace, settings: Settings) -> int:
    build_plans(
        settings,
        args.date or tomorrow(),
        args.district,
        args.seconds or settings.solver_time_limit_s,
    )
    return 0


def cmd_plans(args: argparse.Namespace, settings: Settings) -> int:
    from dispatch.db import session_scope

    with session_scope(_engine(settings)) as s:
        rows = [
            [
                p.id,
                p.district.name_en,
                p.date,
                p.status,
                len(p.routes),
                sum(1 for r in p.routes for x in r.stops if x.kind in ("pickup", "station")),
                len(p.unassigned),
                f"{p.solver_stats.get('distance_m', 0) / 1000:.1f}",
            ]
            for p in s.scalars(select(m.Plan).order_by(m.Plan.id))
        ]
    print(
        table(rows, ["plan", "district", "date", "status", "routes", "stops", "unassigned", "km"])
    )
    return 0


def export(settings: Settings, plan_ids: list[int]) -> dict[str, Any]:
    """Plan JSON for one plan, or ``{"plans": [...]}`` for several."""
    from dispatch.db import session_scope
    from dispatch.export import plan_json

    out = []
    with session_scope(_engine(settings)) as s:
        for pid in plan_ids:
            plan = s.get(m.Plan, pid)
            if plan is None:
                raise UsageError(f"no plan with id {pid}")
            out.append(plan_json(s, plan))
    return out[0] if len(out) == 1 else {"format": "loopvan-plans/1", "plans": out}


def cmd_export_plan(args: argparse.Namespace, settings: Settings) -> int:
    text = json.dumps(export(settings, [args.plan_id]), ensure_ascii=False, indent=1)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0


def _file_rights(settings: Settings, net: Any, rules_dir: Path | None) -> Any:
    """The one rule set (dispatch.rights): with the database's closures when it holds
    districts, else from the files alone (rules are territorial: no district to pick)."""
    from sqlalchemy.exc import SQLAlchemyError

    from dispatch.db import session_scope
    from dispatch.rights import file_rights, session_rights

    try:
        with session_scope(_engine(settings)) as s:
            if s.scalar(select(m.District.id).limit(1)) is not None:
                return session_rights(s, net, rules_dir)
    except SQLAlchemyError:
        pass  # no database yet: the files alone
    return file_rights(settings, net, rules_dir)


def _district_code(settings: Settings, name: str) -> str:
    """Accept a district code (440304), an English or Chinese name (Futian, 福田)."""
    fc = json.loads(Path(settings.districts_path).read_text(encoding="utf-8"))
    for f in fc["features"]:
        p = f["properties"]
        code = p.get("code") or p["name_en"].lower()
        if name in (code, p["name_en"], p["name_en"].lower(), p["name_zh"]):
            return str(code)
    raise UsageError(
        f"unknown district {name!r}; use a code such as 440304 or a name such as Futian"
    )


def cmd_rules_show(args: argparse.Namespace, settings: Settings) -> int:
    from dispatch.db import session_scope
    from dispatch.planning import vehicle_info
    from road_rules.evaluate import active_intervals, bands

    code = _district_code(settings, args.district)
    net = _network(settings)
    rules_dir: Path = args.rules or settings.rules_dir or DEFAULT_RULES
    rights = _file_rights(settings, net, rules_dir)
    day = args.date or tomorrow()
    with session_scope(_engine(settings)) as s:
        veh = s.scalar(select(m.Vehicle).where(m.Vehicle.plate == args.vehicle))
        if veh is None:
            raise UsageError(
                f"no vehicle with plate {args.vehicle!r} (see `loopvan scenario import`)"
            )
        info = vehicle_info(veh)

    def hhmm(t: int) -> str:
        return f"{t // 3600:02d}:{t % 3600 // 60:02d}"

    rows = []
    for r in rights.rules.for_district(code).rules:
        if r.origin == "osm":
            continue  # OSM access tags: counted in the bands below
        iv = active_intervals(r, day)
        applies = (
            "no"
            if not r.selects(info)
            else ("permit" if r.exempt_permits & info.permits else "yes")
        )
        rows.append(
            [
                r.id,
                r.effect,
                applies,
                ", ".join(f"{hhmm(a)}-{hhmm(b)}" for a, b in iv) or "not today",
                r.title[:60],
            ]
        )
    print(
        f"{args.vehicle} ({info.vehicle_class}, {info.weight_class}, {info.fuel}, "
        f"{info.gross_weight_kg} kg, permits: {', '.join(sorted(info.permits)) or 'none'}) on {day}"
    )
    print(table(rows, ["rule", "effect", "applies", "in force", "title"]))
    osm = sum(1 for r in rights.rules.rules if r.origin == "osm")
    print(
        f"+ {osm} OSM access rule(s) from the road graph's tags, and the rules of every other "
        "district on its own roads (rules are territorial)"
    )
    for w in rights.warnings:
        print(f"warning: {w}")
    print()

    def named(ids: tuple[str, ...]) -> str:
        own = [i for i in ids if not i.startswith("osm:")]
        osm = len(ids) - len(own)
        return ", ".join([*own, *([f"+{osm} OSM access"] if osm else [])]) or "-"

    brows = [
        [f"{hhmm(b.start)}-{hhmm(b.end)}", len(b.forbidden), named(b.rules)]
        for b in bands(rights.rules, info, day, rights.table)
    ]
    print(table(brows, ["band", "forbidden edges", "rules in force"]))
    return 0


def cmd_rules_geojson(args: argparse.Namespace, settings: Settings) -> int:
    from dispatch.rights import district_rules_geojson
    from road_rules.export import rules_geojson
    from road_rules.model import RuleSet

    net = _network(settings)
    rules_dir: Path = args.rules or settings.rules_dir or DEFAULT_RULES
    codes = [_district_code(settings, d) for d in args.district] if args.district else None
    rights = _file_rights(settings, net, rules_dir)
    feats: list[dict[str, Any]] = []
    for code in codes or sorted({r.district for r in rights.rules.rules} - {"*"}):
        feats += district_rules_geojson(rights, code, include_osm=False)["features"]
    osm = RuleSet(tuple(r for r in rights.rules.rules if r.origin == "osm"))
    feats += rules_geojson(osm, rights.table)["features"]
    seen: set[str] = set()
    unique = []
    for f in feats:
        if f["properties"]["rule"] not in seen:
            seen.add(f["properties"]["rule"])
            unique.append(f)
    text = json.dumps({"type": "FeatureCollection", "features": unique}, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}: {len(unique)} features")
    else:
        print(text)
    return 0


def _plan_edge_seconds(
    settings: Settings, net: Any, plans: list[dict[str, Any]]
) -> tuple[Any, list[str]]:
    """``edge_seconds`` for the replay of plan JSON from a file: each van's class from its
    JSON (speed profile, weight, height, length; ``LOOPVAN_SPEEDS`` overrides as the
    planner applies them), else from the database's vehicle of that plate, else the
    light-truck profile (with a note)."""
    from sqlalchemy.exc import SQLAlchemyError

    from dispatch.db import session_scope
    from dispatch.planning import class_spec
    from routing.edge_times import edge_seconds, spec_from_vehicle
    from routing.restrictions import ClassSpec
    from routing.speeds import load_speed_config

    speeds = load_speed_config(settings.speeds_path) if settings.speeds_path else None
    specs: dict[str, ClassSpec] = {}
    notes: list[str] = []
    missing = sorted(
        {
            v["plate"]
            for p in plans
            for v in p.get("vehicles", [])
            if not v.get("speed_profile") and v.get("plate")
        }
    )
    db: dict[str, ClassSpec] = {}
    if missing:
        try:
            with session_scope(_engine(settings)) as s:
                for veh in s.scalars(select(m.Vehicle).where(m.Vehicle.plate.in_(missing))):
                    db[veh.plate] = class_spec(veh.vehicle_class, speeds)
        except SQLAlchemyError:
            pass  # no database: the fallback profile, with a note
    for p in plans:
        for v in p.get("vehicles", []):
            plate = str(v.get("plate"))
            if plate in specs:
                continue
            spec, note = spec_from_vehicle(v, db.get(plate), speeds)
            specs[plate] = spec
            if note:
                notes.append(note)

    def spec_of(veh: dict[str, Any]) -> ClassSpec:
        hit = specs.get(str(veh.get("plate")))
        return hit if hit is not None else spec_from_vehicle(veh, None, speeds)[0]

    return edge_seconds(net, spec_of), notes


def cmd_check_plan(args: argparse.Namespace, settings: Settings) -> int:
    from road_rules.legality import check_plan
    from routing.rules_bridge import edge_table

    try:
        doc = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{args.file}: no such file") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{args.file}: not valid JSON ({exc})") from None
    plans = doc.get("plans", [doc]) if isinstance(doc, dict) else None
    if not plans or not all(
        isinstance(p, dict) and p.get("format") == "loopvan-plan/1" for p in plans
    ):
        raise UsageError(f"{args.file}: not a plan JSON document (format loopvan-plan/1)")
    net = _network(settings)
    g = net.graph
    rules_dir = None if args.no_rules else (args.rules or settings.rules_dir)
    found = []
    rights = _file_rights(settings, net, rules_dir) if rules_dir is not None else None
    seconds, notes = _plan_edge_seconds(settings, net, plans)
    for note in notes:
        print(f"note: {note}")
    fleet = _fleet_facts(settings)
    for p in plans:
        found += [
            (p["plan"]["district"]["name_en"], v)
            for v in check_plan(
                p,
                has_edge=g.has_edge,
                rules=rights.rules if rights else None,
                edges=rights.table if rights else edge_table(net),
                edge_seconds=seconds,
            )
        ]
        found += [(p["plan"]["district"]["name_en"], v) for v in _fleet_mismatches(p, fleet)]
    if not found:
        n = sum(len(p["routes"]) for p in plans)
        what = f"rules from {rules_dir} + OSM tags" if rules_dir is not None else "no road rights"
        print(f"legal: {len(plans)} plan(s), {n} routes, no violation ({what})")
        return 0
    print(
        table(
            [[d, v.rule, v.vehicle, v.stop, v.at, v.message] for d, v in found],
            ["district", "rule", "vehicle", "stop", "time", "problem"],
        )
    )
    return 1


def _fleet_facts(settings: Settings) -> dict[str, dict[str, Any]]:
    """Plate -> the rule-relevant facts the fleet database holds ({} without a database)."""
    from sqlalchemy.exc import SQLAlchemyError

    from dispatch.db import session_scope

    try:
        with session_scope(_engine(settings)) as s:
            return {
                v.plate: {
                    "gross_weight_kg": v.vehicle_class.gross_weight_kg,
                    "height_m": v.vehicle_class.height_m,
                    "width_m": v.vehicle_class.width_m,
                    "length_m": v.vehicle_class.length_m,
                    "weight_class": v.vehicle_class.weight_class,
                    "fuel": v.vehicle_class.fuel,
                    "permits": sorted(v.permits or []),
                    "capacity_kg": v.capacity_kg,
                }
                for v in s.scalars(select(m.Vehicle))
            }
    except SQLAlchemyError:
        return {}


def _fleet_mismatches(plan: dict[str, Any], fleet: dict[str, dict[str, Any]]) -> list[Any]:
    """Vehicles whose facts in the plan differ from the fleet database's (a plan claiming a
    lower van, another fuel or a permit it does not hold)."""
    from road_rules.legality import Violation

    out = []
    for v in plan.get("vehicles", []):
        known = fleet.get(str(v.get("plate")))
        if known is None:
            continue
        for f, want in known.items():
            got = sorted(v.get(f) or []) if f == "permits" else v.get(f)
            if got != want:
                out.append(
                    Violation(
                        "vehicle",
                        str(v["plate"]),
                        "-",
                        "-",
                        f"the plan says {f} {got!r}, the fleet database {want!r}",
                    )
                )
    return out


DEMO_USER = "dispatcher"


def demo_accounts(settings: Settings, base_url: str) -> None:
    """A dispatcher account and tablet pairing links for the first drivers of the demo."""
    import os

    from dispatch import accounts
    from dispatch.db import session_scope

    password = os.environ.get("LOOPVAN_DEMO_PASSWORD", "loopvan-demo")
    rows = []
    with session_scope(_engine(settings)) as s:
        if s.scalar(select(m.User).where(m.User.username == DEMO_USER)) is None:
            accounts.create_user(s, DEMO_USER, password, "dispatcher")
        for d in s.scalars(
            select(m.Driver).where(m.Driver.vehicle_id.is_not(None)).order_by(m.Driver.id).limit(3)
        ):
            token = accounts.issue_device_token(s, d.ref)
            rows.append([d.ref, d.name, f"{base_url}/driver#token={token}"])
    print(f"dispatcher sign-in: {base_url}/login  user {DEMO_USER}  password {password}")
    print(f"resident booking:   {base_url}/book")
    print(table(rows, ["driver", "name", "tablet pairing link"]))
    print(
        "the plans are drafts: approve and publish one on its page, and its drivers' tablets "
        "show their routes"
    )


def cmd_user(args: argparse.Namespace, settings: Settings) -> int:
    """Add a dispatcher or admin (password from --password-stdin or a prompt)."""
    import getpass

    from dispatch import accounts
    from dispatch.db import session_scope

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.username}: ")
    with session_scope(_engine(settings)) as s:
        u = accounts.create_user(s, args.username, password, args.role)
        print(f"user {u.username} ({u.role}) added")
    return 0


def cmd_driver_token(args: argparse.Namespace, settings: Settings) -> int:
    """A new device token for a driver's tablet (the old one stops working)."""
    from dispatch import accounts
    from dispatch.db import session_scope

    with session_scope(_engine(settings)) as s:
        token = accounts.issue_device_token(s, args.driver)
    print(f"device token for {args.driver} (shown once): {token}")
    print(f"pair the tablet by opening /driver#token={token}")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from dispatch.db import make_engine

    day = args.date or tomorrow()
    if args.fresh or settings.database_url.startswith("sqlite"):
        # The demo owns its SQLite file: start it afresh each run so reruns are clean.
        path = settings.database_url.split("///", 1)[-1]
        if settings.database_url.startswith("sqlite") and path and path != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                Path(path + suffix).unlink(missing_ok=True)
    print(f"Loopvan demo: {day} (tomorrow in Shenzhen), database {settings.database_url}")
    t = time.monotonic()
    counts = do_import(settings, _demo_scenario(settings, day, args.seed), None)
    print(table(sorted(counts.items()), ["table", "records"]))
    print(f"scenario loaded in {time.monotonic() - t:.1f}s; building plans ...")
    ids = build_plans(settings, day, None, args.seconds or settings.solver_time_limit_s)
    demo_accounts(settings, f"http://{args.host}:{args.port}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(export(settings, ids), ensure_ascii=False, indent=1), "utf-8"
        )
        print(f"wrote {args.json}")
    make_engine(settings.database_url).dispose()
    if args.no_serve:
        return 0
    return _serve(settings, args.host, args.port)


#: Serves the web app; installed by the top layer (``web.cli``) so that dispatch never
#: imports web. ``None`` when only the dispatch layer is in use.
Server = Callable[[Settings, str, int], int]
_server: list[Server] = []


def _serve(settings: Settings, host: str, port: int) -> int:
    if not _server:
        raise UsageError("serving needs the web layer: run the 'loopvan' console script")
    return _server[0](settings, host, port)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    return _serve(settings, args.host, args.port)


def cmd_bench_matrix(args: argparse.Namespace, settings: Settings) -> int:
    from routing.bench import run_matrix_bench
    from routing.synthetic import grid_network

    graphs = [("bundled", lambda: _network(settings))]
    if args.large_nodes:
        graphs.append(
            (f"grid-{args.large_nodes}", lambda: grid_network(args.large_nodes, seed=args.seed))
        )
    rows = []
    for label, make in graphs:
        t = time.monotonic()
        net = make()
        if not args.json:
            print(
                f"{label}: {net.graph.number_of_nodes()} nodes loaded in {time.monotonic() - t:.1f}s",
                flush=True,
            )
        for r in run_matrix_bench(
            net, sizes=args.sizes, seed=args.seed, workers=args.workers, label=label
        ):
            rows.append(r)
            if args.json:
                print(json.dumps(r), flush=True)
    if not args.json:
        print(
            table(
                [
                    [
                        r["graph"],
                        r["graph_nodes"],
                        r["n"],
                        r["workers"],
                        f"{r['seconds']:.3f}",
                        f"{r['peak_rss_mb']:.0f}",
                        f"{r['networkx_seconds_est']:.1f}",
                        f"{r['speedup_vs_networkx']:.0f}x",
                    ]
                    for r in rows
                ],
                [
                    "graph",
                    "nodes",
                    "n",
                    "workers",
                    "seconds",
                    "peak RSS MB",
                    "networkx est. s",
                    "speed-up",
                ],
            )
        )
    return 0


def cmd_bench_rules(args: argparse.Namespace, settings: Settings) -> int:
    from road_rules.evaluate import bands
    from road_rules.model import VehicleInfo

    net = _network(settings)
    rules_dir: Path = args.rules or settings.rules_dir or DEFAULT_RULES
    day = args.date or tomorrow()
    vehicles = [
        VehicleInfo("diesel", "light_diesel", "light", "diesel", 4495),
        VehicleInfo(
            "ev", "light_electric", "light", "electric", 4495, frozenset({"SZ-EV-LOGISTICS"})
        ),
        VehicleInfo("box", "box_tail_lift", "medium", "diesel", 7500),
    ]
    rows = []
    # One rule set for every district (rules are territorial): loaded once.
    rights = _file_rights(settings, net, rules_dir)
    for v in vehicles:
        rights.table._memo.clear()  # cold: edge selections recomputed
        rights.rules._memo.clear()  # and the rules' pieces per vehicle and day
        t = time.perf_counter()
        b = bands(rights.rules, v, day, rights.table)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        bands(rights.rules, v, day, rights.table)
        warm = time.perf_counter() - t
        rows.append(
            [
                v.vehicle_class,
                len(rights.table),
                len(rights.rules.rules),
                len(b),
                f"{cold:.3f}",
                f"{warm:.3f}",
            ]
        )
    print(table(rows, ["class", "edges", "rules", "bands", "cold s", "warm s"]))
    return 0


def cmd_solve_vrplib(args: argparse.Namespace, settings: Settings) -> int:
    from routing.vrplib_solve import read_instance, solution_dict, solve_instance

    inst = read_instance(args.file)
    sol = solve_instance(inst, seconds=args.time_limit, engine=args.engine, seed=args.seed)
    if args.json:
        print(json.dumps(solution_dict(sol)))
    else:
        print(
            f"{sol.instance}: {len(inst.coords) - 1} customers, engine {sol.engine}, {sol.seconds:.1f}s"
        )
        print(
            table(
                [[k + 1, len(r), " ".join(map(str, r))] for k, r in enumerate(sol.routes)],
                ["route", "customers", "sequence"],
            )
        )
        print(
            f"distance {sol.distance:.2f}, vehicles {sol.vehicles}, feasible: {'yes' if sol.feasible else 'NO'}"
        )
        for p in sol.problems:
            print(f"  problem: {p}")
    return 0 if sol.feasible else 1


def cmd_bench_solver(args: argparse.Namespace, settings: Settings) -> int:
    from dispatch.bench import run_shenzhen_bench
    from routing.bench_solver import run_solver_bench

    run_solver_bench(
        bench_dir=args.dir,
        instances=args.instances,
        limits=args.time_limits,
        engines=args.engines,
        as_json=args.json,
    )
    if not args.no_shenzhen:
        run_shenzhen_bench(settings, args.time_limits, args.json)
    return 0


def cmd_plan_state(args: argparse.Namespace, settings: Settings) -> int:
    from dispatch import approval
    from dispatch.db import session_scope

    with session_scope(_engine(settings)) as s:
        if args.sub == "approve":
            plan = approval.approve(s, args.plan_id, by=args.by)
        elif args.sub == "publish":
            plan = approval.publish(s, args.plan_id, by=args.by)
        else:
            plan = approval.reject(s, args.plan_id, by=args.by, reason=args.reason)
        print(f"plan {plan.id} ({plan.district.name_en}, {plan.date}) is now {plan.status}")
        if plan.status == "published":
            print(
                table(
                    [
                        [
                            r.vehicle.plate,
                            r.version,
                            sum(1 for x in r.stops if x.kind in ("pickup", "station")),
                        ]
                        for r in plan.routes
                    ],
                    ["vehicle", "route version", "stops"],
                )
            )
    return 0


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: cannot read {what} ({exc})") from None


def _print_diff(diff: dict[str, Any]) -> None:
    rows = [
        [
            v["vehicle"],
            ", ".join(a["stop"] for a in v["added"]) or "-",
            ", ".join(v["removed"]) or "-",
            "yes" if v["order_changed"] else "",
            len(v["eta_shifts"]),
        ]
        for v in diff["vehicles"]
        if v["changed"] or v["eta_shifts"]
    ]
    print(
        table(rows, ["vehicle", "added", "removed", "reordered", "ETAs moved"])
        if rows
        else "  no route changed"
    )
    if diff["newly_unassigned"]:
        print(f"newly unassigned: {', '.join(diff['newly_unassigned'])}")


def cmd_plan_edit(args: argparse.Namespace, settings: Settings) -> int:
    """Apply a dispatcher edit from a JSON file: {plate: [stop refs in order], ...}."""
    from dispatch.db import session_scope
    from dispatch.editing import edit_plan

    routes = _read_json(args.file, "an edit (JSON object: plate -> stop references)")
    if not isinstance(routes, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in routes.values()
    ):
        raise UsageError(f"{args.file}: must be a JSON object of plate -> list of stop references")
    with session_scope(_engine(settings)) as s:
        new = edit_plan(
            s,
            _network(settings),
            args.plan_id,
            routes,
            by=args.by,
            rules_dir=settings.rules_dir,
            pin_routes=args.pin,
        )
        print(
            f"plan {new.id} (version {new.version}) saved as a draft; plan {args.plan_id} superseded"
        )
    return 0


def cmd_plan_replan(args: argparse.Namespace, settings: Settings) -> int:
    """Re-plan the rest of a live plan's day (urgent booking, breakdown, closure)."""
    from dispatch.db import session_scope
    from dispatch.replanning import replan
    from routing.problem import Limits

    now = args.at or dt.datetime.now(_TZ)
    if now.tzinfo is None:
        now = now.replace(tzinfo=_TZ)
    with session_scope(_engine(settings)) as s:
        new = replan(
            s,
            _network(settings),
            args.plan_id,
            by=args.by,
            now=now,
            reason=args.reason,
            broken=args.broken,
            rules_dir=settings.rules_dir,
            limits=Limits(time_limit_s=args.seconds or settings.solver_time_limit_s),
        )
        st = new.solver_stats
        print(
            f"plan {new.id} (version {new.version}) drafted from plan {args.plan_id}: "
            f"{st['stops_served']} stops served, {st['stops_unassigned']} unassigned, "
            f"{st['replan']['pinned_stops']} done stops kept"
        )
        _print_diff(st["diff"])
        print(f"approve and publish it: loopvan plan approve {new.id} --by ...")
    return 0


def cmd_closure(args: argparse.Namespace, settings: Settings) -> int:
    from dispatch.db import session_scope
    from dispatch.replanning import add_closure

    with session_scope(_engine(settings)) as s:
        row = add_closure(
            s,
            _district_code(settings, args.district),
            args.date or dt.datetime.now(_TZ).date(),
            title=args.title,
            start=args.start,
            end=args.end,
            road_names=args.road,
            way_ids=args.way,
            by=args.by,
            network=_network(settings),
        )
        print(
            f"closure {row.rule['id']} stored: {row.rule['title']} {row.rule['when']} on {row.date}"
        )
    return 0


def cmd_events(args: argparse.Namespace, settings: Settings) -> int:
    """Record driver events from a JSON file (a list), as the tablet would send them."""
    from dispatch import execution
    from dispatch.db import session_scope

    body = _read_json(args.file, "driver events (a JSON list)")
    if not isinstance(body, list):
        raise UsageError(f"{args.file}: must be a JSON list of events")
    rows = []
    with session_scope(_engine(settings)) as s:
        driver = s.scalar(select(m.Driver).where(m.Driver.ref == args.driver))
        if driver is None:
            raise UsageError(f"no driver {args.driver!r}")
        for ev in body:
            rec, created = execution.record_event(s, driver, ev)
            rows.append(
                [
                    rec.client_event_id,
                    rec.kind,
                    rec.stop_id,
                    "stored" if created else "already had it",
                ]
            )
    print(table(rows, ["event", "kind", "stop", "result"]))
    return 0


def cmd_route(args: argparse.Namespace, settings: Settings) -> int:
    """A driver's current route with ETAs from the events so far."""
    from dispatch import execution
    from dispatch.db import session_scope

    def hhmm(x: int) -> str:
        return f"{x // 3600:02d}:{x % 3600 // 60:02d}"

    with session_scope(_engine(settings)) as s:
        driver = s.scalar(select(m.Driver).where(m.Driver.ref == args.driver))
        if driver is None or driver.vehicle_id is None:
            raise UsageError(f"no driver {args.driver!r} with a vehicle")
        route = s.scalars(
            select(m.Route)
            .join(m.Plan)
            .where(
                m.Route.vehicle_id == driver.vehicle_id,
                m.Plan.status.in_(("published", "in_progress", "completed")),
            )
            .order_by(m.Plan.date.desc(), m.Plan.id.desc())
        ).first()
        if route is None:
            raise UsageError(f"driver {args.driver} has no published route")
        etas = execution.route_etas(s, route)
        print(f"{route.vehicle.plate} {route.plan.date} route version {route.version}")
        print(
            table(
                [
                    [
                        e["sequence"],
                        e["kind"],
                        hhmm(e["planned_arrival_s"]),
                        hhmm(e["eta_arrival_s"]),
                        f"{e['delay_s'] // 60:+d} min" if e["delay_s"] else "",
                        ",".join(e["reported"]),
                        "LATE" if e["late_for_window"] else "",
                    ]
                    for e in etas
                ],
                ["#", "kind", "planned", "eta", "delay", "reported", "window"],
            )
        )
    return 0


def cmd_slots(args: argparse.Namespace, settings: Settings) -> int:
    from dispatch.db import session_scope
    from dispatch.slots import suggest

    mats = []
    for item in args.material:
        name, _, kg = item.partition(":")
        try:
            mats.append({"material": name, "kg": float(kg), "m3": 0.0})
        except ValueError:
            raise UsageError(f"--material must be NAME:KG, got {item!r}") from None
    with session_scope(_engine(settings)) as s:
        out = suggest(
            s,
            _network(settings),
            {"lat": args.lat, "lon": args.lon, "materials": mats},
            today=args.today or dt.datetime.now(_TZ).date(),
            days=args.days,
            rules_dir=settings.rules_dir,
        )
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return 0
    print(f"{out['district_name']}: service about {out['service_minutes']} min")
    print(
        table(
            [
                [
                    r["rank"],
                    r["date"],
                    f"{r['start']}-{r['end']}",
                    r.get("vehicle", ""),
                    r.get("eta", ""),
                    f"{r['extra_minutes']:.1f}",
                    r["basis"],
                ]
                for r in out["slots"]
            ],
            ["rank", "date", "window", "van", "eta", "extra van-min", "checked by"],
        )
        if out["slots"]
        else "  no slot can take it in the next days"
    )
    return 0


def cmd_booking(args: argparse.Namespace, settings: Settings) -> int:
    from dispatch import booking
    from dispatch.db import session_scope

    with session_scope(_engine(settings)) as s:
        if args.sub == "create":
            try:
                body = json.loads(Path(args.file).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise UsageError(f"{args.file}: cannot read a JSON booking ({exc})") from None
            b, created = booking.create_booking(
                s,
                body,
                today=(args.today or dt.date.today()),
                snap_distance=_snap_check(settings),
                actor="cli",
            )
            print(
                f"{'created' if created else 'already exists (same idempotency key)'}: {b.reference} "
                f"for {b.date} {b.window_start:%H:%M}-{b.window_end:%H:%M}, status {b.status}"
            )
        elif args.sub == "cancel":
            b = booking.cancel_booking(s, args.reference, actor="cli", reason=args.reason or "")
            print(f"{b.reference} cancelled")
        else:
            b = booking.get_booking(s, args.reference)
            print(
                f"{b.reference}: {b.address}, {b.date} {b.window_start:%H:%M}-{b.window_end:%H:%M}, "
                f"{b.est_kg:g} kg, status {b.status}, priority {b.priority}"
            )
            print(
                table(
                    [
                        [h["at"], h["from"] or "", h["to"], h["actor"], h["note"]]
                        for h in booking.history(s, args.reference)
                    ],
                    ["at", "from", "to", "by", "note"],
                )
            )
    return 0


def _period(args: argparse.Namespace) -> tuple[dt.date, dt.date]:
    """``--from``/``--to``: by default the seven days up to today (Shanghai)."""
    end = args.to or (dt.datetime.now(_TZ).date())
    start = args.start or end - dt.timedelta(days=6)
    if start > end:
        raise UsageError(f"--from {start} is after --to {end}")
    return start, end


def cmd_carbon(args: argparse.Namespace, settings: Settings) -> int:
    """Carbon balance of one plan (``--plan``) or of a period (``--from``/``--to``)."""
    from dispatch.carbon import period_balance, plan_balance
    from dispatch.db import session_scope

    start, end = _period(args)
    with session_scope(_engine(settings)) as s:
        doc = plan_balance(s, args.plan) if args.plan else period_balance(s, start, end)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
        return 0
    if args.plan:
        print(
            f"plan {doc['plan']} {doc['district_name']} {doc['date']} ({doc['status']}, "
            f"{doc['basis']} kg)"
        )
        rows = [
            [r["material"], f"{r['kg']:.1f}", f"{r['avoided_kg_co2e']:.1f}"]
            for r in doc["by_material"]
        ]
        print(table(rows, ["material", "kg", "kg CO2e avoided"]) if rows else "  nothing")
        print()
        print(
            table(
                [
                    [
                        f"{doc['vehicle_km']:.1f}",
                        f"{doc['vehicle_kg_co2e']:.1f}",
                        f"{doc['avoided_kg_co2e']:.1f}",
                        f"{doc['net_kg_co2e']:.1f}",
                    ]
                ],
                ["van km", "kg CO2e emitted", "kg CO2e avoided", "net benefit"],
            )
        )
        return 0
    t = doc["totals"]
    print(f"carbon balance {start} .. {end} ({len(doc['plans'])} published plans)")
    print(
        table(
            [
                [
                    r.get("district_name", r.get("district")),
                    f"{r['vehicle_km']:.1f}",
                    f"{r['vehicle_kg_co2e']:.1f}",
                    f"{r['avoided_kg_co2e']:.1f}",
                    f"{r['net_kg_co2e']:.1f}",
                ]
                for r in [*doc["by_district"], {**t, "district_name": "total"}]
            ],
            ["district", "van km", "kg CO2e emitted", "kg CO2e avoided", "net benefit"],
        )
    )
    return 0


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from dispatch.db import session_scope
    from dispatch.statistics import coverage, tonnage

    start, end = _period(args)
    with session_scope(_engine(settings)) as s:
        tons = tonnage(s, start, end)
        cov = coverage(s, end)
    if args.json:
        print(json.dumps({"tonnage": tons, "coverage": cov}, ensure_ascii=False))
        return 0
    print(f"collected {start} .. {end}")
    print(
        table(
            [[r["date"], r["district_name"], r["material"], f"{r['kg']:.1f}"] for r in tons],
            ["date", "district", "material", "kg"],
        )
        if tons
        else "  nothing recorded"
    )
    print()
    print(
        table(
            [
                [
                    r["week"],
                    r["district_name"],
                    r["points"],
                    r["served"],
                    f"{100 * r['share']:.0f}%",
                ]
                for r in cov
            ],
            ["week", "district", "collection points", "served", "coverage"],
        )
    )
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``loopvan``."""
    p = argparse.ArgumentParser(
        prog="loopvan", description="Routing and dispatch for recycling-collection vans."
    )
    sub = p.add_subparsers(dest="cmd", required=True)

    net = sub.add_parser("network", help="road network").add_subparsers(dest="sub", required=True)
    nb = net.add_parser("build", help="read the OSM file and cache the drivable graph")
    nb.add_argument(
        "--osm", type=Path, help="OSM XML (.osm / .osm.bz2); default the bundled extract"
    )
    nb.add_argument("--no-cache", action="store_true")
    nb.set_defaults(func=cmd_network_build)

    db = sub.add_parser("db", help="database").add_subparsers(dest="sub", required=True)
    db.add_parser(
        "upgrade", help="create or migrate the schema; load district polygons"
    ).set_defaults(func=cmd_db_upgrade)

    sc = sub.add_parser("scenario", help="scenario import and demo generator").add_subparsers(
        dest="sub", required=True
    )
    si = sc.add_parser("import", help="import a scenario JSON file (all or nothing)")
    si.add_argument("file", type=Path)
    si.add_argument(
        "--gcj02", action="store_true", help="coordinates are GCJ-02 (AMap/Tencent); convert once"
    )
    si.set_defaults(func=cmd_scenario_import)
    sg = sc.add_parser("generate", help="write a seeded demo scenario")
    sg.add_argument("--date", type=_date)
    sg.add_argument("--seed", type=int, default=7)
    sg.add_argument("--out", type=Path)
    sg.set_defaults(func=cmd_scenario_generate)

    pl = sub.add_parser("plan", help="plans").add_subparsers(dest="sub", required=True)
    pb = pl.add_parser("build", help="build draft plans")
    pb.add_argument("--date", type=_date, help="default: tomorrow")
    pb.add_argument("--district", action="append", help="district code, e.g. 440304 (repeatable)")
    pb.add_argument("--seconds", type=float, help="solver time limit per district")
    pb.set_defaults(func=cmd_plan_build)
    for name, helptext in (
        ("approve", "approve a draft"),
        ("publish", "publish an approved plan to the drivers"),
        ("reject", "reject a draft or approved plan"),
    ):
        ps = pl.add_parser(name, help=helptext)
        ps.add_argument("plan_id", type=int)
        ps.add_argument("--by", required=True, help="who (recorded in the audit log)")
        if name == "reject":
            ps.add_argument("--reason", required=True)
        ps.set_defaults(func=cmd_plan_state)
    pe = pl.add_parser("edit", help="apply a dispatcher edit (JSON: plate -> stop refs)")
    pe.add_argument("plan_id", type=int)
    pe.add_argument("--file", type=Path, required=True)
    pe.add_argument("--by", required=True)
    pe.add_argument("--pin", action="append", help="keep this van's route through re-planning")
    pe.set_defaults(func=cmd_plan_edit)
    pr = pl.add_parser("replan", help="re-plan the rest of today's live plan")
    pr.add_argument("plan_id", type=int)
    pr.add_argument("--reason", required=True)
    pr.add_argument("--broken", help="plate of a van that broke down")
    pr.add_argument("--at", type=dt.datetime.fromisoformat, help="now (ISO time; default: now)")
    pr.add_argument("--seconds", type=float)
    pr.add_argument("--by", required=True)
    pr.set_defaults(func=cmd_plan_replan)
    cl = sub.add_parser("closure", help="add a temporary road closure for a day")
    cl.add_argument("--district", required=True)
    cl.add_argument("--date", type=_date, help="default: today")
    cl.add_argument("--road", action="append", help="road name (repeatable)")
    cl.add_argument("--way", action="append", type=int, help="OSM way id (repeatable)")
    cl.add_argument("--from", dest="start", required=True, help="HH:MM")
    cl.add_argument("--to", dest="end", required=True, help="HH:MM")
    cl.add_argument("--title", required=True)
    cl.add_argument("--by", required=True)
    cl.set_defaults(func=cmd_closure)
    us = sub.add_parser("user", help="dispatcher and admin accounts").add_subparsers(
        dest="sub", required=True
    )
    ua = us.add_parser("add", help="add a dispatcher or admin")
    ua.add_argument("username")
    ua.add_argument("--role", choices=["dispatcher", "admin"], default="dispatcher")
    ua.add_argument("--password-stdin", action="store_true")
    ua.set_defaults(func=cmd_user)
    dt_ = sub.add_parser("driver-token", help="issue a device token for a driver's tablet")
    dt_.add_argument("driver", help="driver reference")
    dt_.set_defaults(func=cmd_driver_token)
    evp = sub.add_parser("events", help="record driver events from a JSON list")
    evp.add_argument("--driver", required=True)
    evp.add_argument("file", type=Path)
    evp.set_defaults(func=cmd_events)
    rt = sub.add_parser("route", help="a driver's route with ETAs")
    rt.add_argument("--driver", required=True)
    rt.set_defaults(func=cmd_route)
    sch = sub.add_parser(
        "scheduler",
        help="nightly cut-off drafts and publishing at shift start (one per database)",
    )
    sch.add_argument("--cutoff", default="20:00", help="local time of the nightly cut-off")
    sch.add_argument("--publish-every", type=float, default=5, help="minutes between checks")
    sch.add_argument("--wait", action="store_true", help="stand by while another one runs")
    sch.add_argument("--lease-seconds", type=float, default=None)
    sch.set_defaults(func=cmd_scheduler)
    wk = sub.add_parser("worker", help="run a Celery worker for spread solves")
    wk.add_argument("--concurrency", type=int, default=0, help="solves at once (default: cores)")
    wk.add_argument("--hostname", help="worker name, e.g. solver1@%%h")
    wk.add_argument("--loglevel", default="INFO")
    wk.set_defaults(func=cmd_worker)
    sub.add_parser("plans", help="list plans").set_defaults(func=cmd_plans)

    bk = sub.add_parser("booking", help="bookings").add_subparsers(dest="sub", required=True)
    bc = bk.add_parser(
        "create", help="create a booking from a JSON file (idempotency_key honoured)"
    )
    bc.add_argument("file", type=Path)
    bc.add_argument("--today", type=_date, help="the booking day's reference date (default: today)")
    bc.set_defaults(func=cmd_booking)
    bsl = bk.add_parser("slots", help="slot suggestions for a new booking, best first")
    bsl.add_argument("--lat", type=float, required=True)
    bsl.add_argument("--lon", type=float, required=True)
    bsl.add_argument("--material", action="append", required=True, help="NAME:KG (repeatable)")
    bsl.add_argument("--days", type=int, default=3)
    bsl.add_argument("--today", type=_date)
    bsl.add_argument("--json", action="store_true")
    bsl.set_defaults(func=cmd_slots)
    bs_ = bk.add_parser("show", help="a booking and its status history")
    bs_.add_argument("reference")
    bs_.set_defaults(func=cmd_booking)
    bx = bk.add_parser("cancel", help="cancel a booking not yet dispatched")
    bx.add_argument("reference")
    bx.add_argument("--reason")
    bx.set_defaults(func=cmd_booking)

    ex = sub.add_parser("export-plan", help="write a plan as plan JSON")
    ex.add_argument("plan_id", type=int)
    ex.add_argument("--out", type=Path)
    ex.set_defaults(func=cmd_export_plan)

    ck = sub.add_parser("check-plan", help="replay a plan JSON and list violations (exit 1 if any)")
    ck.add_argument("file", type=Path)
    ck.add_argument(
        "--rules", type=Path, help="rule file or directory (default: the shipped data/rules)"
    )
    ck.add_argument("--no-rules", action="store_true", help="check without road rights")
    ck.set_defaults(func=cmd_check_plan)

    ru = sub.add_parser("rules", help="road-rights rules").add_subparsers(dest="sub", required=True)
    rs = ru.add_parser("show", help="the rules and time bands for a vehicle on a date")
    rs.add_argument("--district", required=True, help="code (440304) or name (Futian, 福田)")
    rs.add_argument("--date", type=_date, help="default: tomorrow")
    rs.add_argument("--vehicle", required=True, help="plate")
    rs.add_argument("--rules", type=Path)
    rs.set_defaults(func=cmd_rules_show)
    rg = ru.add_parser("geojson", help="zones and restricted roads as GeoJSON for the map")
    rg.add_argument("--district", action="append")
    rg.add_argument("--rules", type=Path)
    rg.add_argument("--out", type=Path)
    rg.set_defaults(func=cmd_rules_geojson)

    dm = sub.add_parser(
        "demo", help="load the demo scenario, build tomorrow's plans, serve the web app"
    )
    dm.add_argument("--date", type=_date)
    dm.add_argument("--seed", type=int, default=7)
    dm.add_argument("--seconds", type=float)
    dm.add_argument("--json", type=Path, help="also write the plans as plan JSON")
    dm.add_argument("--no-serve", action="store_true")
    dm.add_argument("--fresh", action="store_true")
    dm.add_argument("--host", default="127.0.0.1")
    dm.add_argument("--port", type=int, default=5000)
    dm.set_defaults(func=cmd_demo)

    vr = sub.add_parser("solve-vrplib", help="solve a Solomon / VRPLIB VRPTW or CVRP instance")
    vr.add_argument("file", type=Path)
    vr.add_argument("--time-limit", type=float, default=10.0, help="seconds")
    vr.add_argument("--engine", default="pyvrp", help="pyvrp (hybrid genetic search) or ortools")
    vr.add_argument("--seed", type=int, default=0)
    vr.add_argument("--json", action="store_true")
    vr.set_defaults(func=cmd_solve_vrplib)

    st = sub.add_parser("stats", help="kg by material, district and day; collection-point coverage")
    st.add_argument("--from", dest="start", type=_date)
    st.add_argument("--to", type=_date)
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_stats)
    cb = sub.add_parser(
        "carbon", help="carbon balance: van emissions against emissions avoided by recycling"
    )
    cb.add_argument("--plan", type=int, help="one plan (default: the period)")
    cb.add_argument("--from", dest="start", type=_date)
    cb.add_argument("--to", type=_date)
    cb.add_argument("--json", action="store_true")
    cb.set_defaults(func=cmd_carbon)

    sv = sub.add_parser("serve", help="serve the web app")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=5000)
    sv.set_defaults(func=cmd_serve)

    be = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="sub", required=True)
    bm = be.add_parser("matrix", help="travel-time matrix benchmark")
    bm.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000, 2000])
    bm.add_argument(
        "--large-nodes",
        type=int,
        default=100_000,
        help="also a generated grid of this many nodes (0: skip)",
    )
    bm.add_argument("--workers", type=int, default=1, help="processes for the Dijkstra runs")
    bm.add_argument("--seed", type=int, default=1)
    bm.add_argument("--json", action="store_true")
    bm.set_defaults(func=cmd_bench_matrix)
    bs = be.add_parser(
        "solver", help="solver quality: benchmark instances and the Shenzhen scenario"
    )
    bs.add_argument(
        "--dir", type=Path, default=Path(__file__).resolve().parent.parent / "data" / "bench"
    )
    bs.add_argument(
        "--instances", nargs="*", help="instance names (default: a spread of Solomon + GH)"
    )
    bs.add_argument("--time-limits", type=float, nargs="+", default=[5.0, 30.0])
    bs.add_argument("--engines", nargs="+", default=["pyvrp", "ortools"])
    bs.add_argument("--no-shenzhen", action="store_true")
    bs.add_argument("--json", action="store_true")
    bs.set_defaults(func=cmd_bench_solver)
    br = be.add_parser("rules", help="time-band evaluation benchmark")
    br.add_argument("--date", type=_date)
    br.add_argument("--rules", type=Path)
    br.set_defaults(func=cmd_bench_rules)
    return p


def main(argv: Sequence[str] | None = None, *, serve: Server | None = None) -> int:
    """Entry point; returns the exit code. ``serve`` runs the web app for ``demo``/``serve``."""
    from dispatch.errors import DispatchError
    from dispatch.scenario import ScenarioError
    from road_rules.calendar import CalendarError
    from road_rules.errors import RuleError
    from road_rules.hours import HoursError
    from routing.errors import RoutingError

    args = parser().parse_args(argv)
    settings = Settings.from_env()
    _server[:] = [serve] if serve is not None else []
    try:
        return int(args.func(args, settings))
    except (
        ScenarioError,
        PlanningError,
        RoutingError,
        HoursError,
        UsageError,
        RuleError,
        CalendarError,
        DispatchError,
    ) as exc:
        print(f"loopvan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
