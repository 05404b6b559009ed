"""HTTP load run of ``make bench``: locust against the app served on loopback.

Two kinds of client share the run: driver tablets pulling their route (``GET
/api/v1/driver/route`` with a device token, half of the pulls conditional with the last
``ETag`` seen, so some answers are 304) and residents booking a pickup (``POST
/api/v1/bookings``: valid, tomorrow in Shanghai, a point in Futian, unique idempotency
keys). Pulls and bookings are weighted 3 : 1; each simulated client waits 0.5–1.5 s
between requests.

``python -m web.loadtest`` does the whole run:

1. a fresh demo database (``loopvan demo --no-serve``) in a temporary SQLite file, or the
   empty database named by ``LOOPVAN_BENCH_DATABASE_URL`` (e.g. PostgreSQL);
2. every draft plan approved and published, a device token for each driver on a route;
3. the app served by ``loopvan serve`` (Werkzeug, threaded) on 127.0.0.1;
4. a warm-up (the road graph is loaded by the first booking, which snaps its point to
   the roads), then ``--users`` clients for ``--seconds`` with locust (headless, in this
   process);
5. a table per endpoint (requests, failures, median, p95, p99) with PASS/FAIL against
   p95 < ``--p95-ms`` and zero failures; the figures as JSON at ``--json``.

The locust file can also be used directly, against a server you started::

    LOOPVAN_BENCH_TOKENS=lvd_a,lvd_b locust -f web/loadtest.py --host http://127.0.0.1:5000
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from locust import FastHttpUser, task

ROUTE = "/api/v1/driver/route"
BOOKINGS = "/api/v1/bookings"
FUTIAN = (22.5405, 114.0560)  # lat, lon: residential streets in Futian
SHANGHAI = ZoneInfo("Asia/Shanghai")

_tokens: itertools.cycle[str] | None = None


def _next_token() -> str:
    global _tokens
    if _tokens is None:
        found = [t for t in os.environ.get("LOOPVAN_BENCH_TOKENS", "").split(",") if t]
        if not found:
            raise RuntimeError("set LOOPVAN_BENCH_TOKENS to driver device tokens (comma-separated)")
        _tokens = itertools.cycle(found)
    return next(_tokens)


def booking_body() -> dict[str, Any]:
    """A valid resident booking: tomorrow in Shanghai, within ±0.002° of a Futian street."""
    tomorrow = dt.datetime.now(SHANGHAI).date() + dt.timedelta(days=1)
    return {
        "resident": {"name": "压测用户", "phone": f"138{random.randint(0, 99_999_999):08d}"},
        "address": "福田区 景田 压测",
        "lat": round(FUTIAN[0] + random.uniform(-0.002, 0.002), 6),
        "lon": round(FUTIAN[1] + random.uniform(-0.002, 0.002), 6),
        "materials": [{"material": "paper", "kg": random.randint(5, 20)}],
        "date": tomorrow.isoformat(),
        "window": {"start": "09:00", "end": "11:00"},
        "idempotency_key": f"bench-{uuid.uuid4().hex}",
    }


class TabletOrResident(FastHttpUser):
    """One simulated client: mostly a driver's tablet, sometimes a resident booking."""

    def wait_time(self) -> float:
        lo, hi = (float(x) for x in os.environ.get("LOOPVAN_BENCH_WAIT", "0.5,1.5").split(","))
        return random.uniform(lo, hi)

    def on_start(self) -> None:
        self.token = _next_token()
        self.etag: str | None = None

    @task(3)
    def pull_route(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        conditional = self.etag is not None and random.random() < 0.5
        if conditional and self.etag:
            headers["If-None-Match"] = self.etag
        name = f"GET {ROUTE}" + (" (If-None-Match)" if conditional else "")
        with self.client.get(ROUTE, headers=headers, name=name, catch_response=True) as r:
            if r.status_code == 200:
                self.etag = r.headers.get("ETag")
                r.success()
            elif r.status_code == 304 and conditional:
                r.success()
            else:
                r.failure(f"status {r.status_code}")

    @task(1)
    def create_booking(self) -> None:
        with self.client.post(
            BOOKINGS, json=booking_body(), name=f"POST {BOOKINGS}", catch_response=True
        ) as r:
            if r.status_code == 201:
                r.success()
            else:
                r.failure(f"status {r.status_code}: {(r.text or '')[:200]}")


# --- the runner ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(url: str, body: Any = None, headers: dict[str, str] | None = None) -> int:
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(url, data=data, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def prepare_database(url: str, demo_seconds: float, log: Path) -> list[str]:
    """Demo scenario and plans, every draft approved and published; return device tokens."""
    from sqlalchemy import select

    from dispatch import accounts, approval
    from dispatch import models as m
    from dispatch.db import make_engine, session_scope

    cmd = [sys.executable, "-m", "web.cli", "demo", "--no-serve", "--seconds", str(demo_seconds)]
    if not url.startswith("sqlite"):
        cmd.append("--fresh")
    env = {**os.environ, "LOOPVAN_DATABASE_URL": url}
    with log.open("w", encoding="utf-8") as out:
        subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            vehicles: set[int] = set()
            for plan in s.scalars(select(m.Plan).where(m.Plan.status == "draft")):
                approval.approve(s, plan.id, by="loadtest")
                approval.publish(s, plan.id, by="loadtest")
                vehicles |= {r.vehicle_id for r in plan.routes if r.stops}
            drivers = s.scalars(
                select(m.Driver).where(m.Driver.vehicle_id.in_(vehicles)).order_by(m.Driver.id)
            )
            return [accounts.issue_device_token(s, d.ref) for d in drivers]
    finally:
        engine.dispose()


def serve(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``loopvan serve`` (Werkzeug, threaded) on 127.0.0.1:``port``; returns once it answers."""
    env = {
        **os.environ,
        "LOOPVAN_DATABASE_URL": url,
        "LOOPVAN_SECRET_KEY": uuid.uuid4().hex,  # no instance/secret_key written
    }
    out = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}); see {log}")
        try:
            if _request(f"http://127.0.0.1:{port}/api/v1/openapi.json") == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"the server did not answer within 60 s; see {log}")


def warm_up(base: str, tokens: list[str]) -> None:
    """Load the road graph and snapping index (first booking) and each route once."""
    t = time.monotonic()
    status = _request(base + BOOKINGS, booking_body())
    if status != 201:
        raise RuntimeError(f"warm-up booking answered {status}")
    for tok in tokens:
        status = _request(base + ROUTE, headers={"Authorization": f"Bearer {tok}"})
        if status != 200:
            raise RuntimeError(f"warm-up route pull answered {status}")
    print(f"warm-up requests done in {time.monotonic() - t:.1f} s", flush=True)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux ``/proc``), or ``None``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def run_locust(
    base: str, users: int, seconds: float, warmup_s: float, server_pid: int
) -> dict[str, Any]:
    """``users`` clients for ``warmup_s`` (not counted) and then ``seconds`` (counted)."""
    import gevent
    from locust.env import Environment

    env = Environment(user_classes=[TabletOrResident], host=base)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=max(users, 1))
    gevent.sleep(warmup_s)
    env.stats.reset_all()
    started = time.monotonic()
    cpu0 = (_cpu_seconds(server_pid), _cpu_seconds(os.getpid()))
    load0 = _load_average()
    gevent.sleep(seconds)
    elapsed = time.monotonic() - started
    cpu1 = (_cpu_seconds(server_pid), _cpu_seconds(os.getpid()))
    result = _snapshot(env, elapsed)  # before stopping: cancelled requests are not counted
    runner.quit()
    # How busy the machine was: the server's and locust's share of one core, and the
    # 1-minute load average (other work on the machine shows here).
    result["cpu_share_of_one_core"] = {
        name: (round((b - a) / elapsed, 2) if a is not None and b is not None else None)
        for name, a, b in (("server", cpu0[0], cpu1[0]), ("locust", cpu0[1], cpu1[1]))
    }
    result["load_average_1min"] = {"start": load0, "end": _load_average()}
    return result


def _row(entry: Any, elapsed: float) -> dict[str, Any]:
    n = int(entry.num_requests)
    return {
        "name": entry.name,
        "requests": n,
        "failures": int(entry.num_failures),
        "median_ms": entry.median_response_time if n else None,
        "p95_ms": entry.get_response_time_percentile(0.95) if n else None,
        "p99_ms": entry.get_response_time_percentile(0.99) if n else None,
        "avg_ms": round(float(entry.avg_response_time), 1) if n else None,
        "max_ms": round(float(entry.max_response_time), 1) if n else None,
        "rps": round(n / elapsed, 1) if elapsed else None,
    }


def _snapshot(env: Any, elapsed: float) -> dict[str, Any]:
    stats = env.stats
    rows = [_row(e, elapsed) for _, e in sorted(stats.entries.items())]
    total = _row(stats.total, elapsed) | {"name": "all"}
    errors = [
        {"method": e.method, "name": e.name, "error": str(e.error), "occurrences": e.occurrences}
        for e in stats.errors.values()
    ]
    return {"seconds": round(elapsed, 1), "endpoints": rows, "total": total, "errors": errors}


def _table(rows: list[dict[str, Any]]) -> str:
    head = ["endpoint", "requests", "failures", "median ms", "p95 ms", "p99 ms", "req/s"]
    keys = ["name", "requests", "failures", "median_ms", "p95_ms", "p99_ms", "rps"]
    cells = [[("-" if r[k] is None else str(r[k])) for k in keys] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    line = "  ".join(
        h.ljust(w) if i == 0 else h.rjust(w)
        for i, (h, w) in enumerate(zip(head, widths, strict=True))
    )
    out = [line, "  ".join("-" * w for w in widths)]
    for c in cells:
        out.append(
            "  ".join(
                x.ljust(w) if i == 0 else x.rjust(w)
                for i, (x, w) in enumerate(zip(c, widths, strict=True))
            )
        )
    return "\n".join(out)


def verdict(result: dict[str, Any], p95_ms: float) -> tuple[bool, list[str]]:
    """PASS when every endpoint and the total have p95 < ``p95_ms`` and nothing failed."""
    why = []
    total = result["total"]
    if not total["requests"]:
        why.append("no requests were made")
    if total["failures"]:
        why.append(f"{total['failures']} failed request(s)")
    for r in [*result["endpoints"], total]:
        if r["p95_ms"] is not None and r["p95_ms"] >= p95_ms:
            why.append(f"{r['name']}: p95 {r['p95_ms']} ms >= {p95_ms:g} ms")
    return not why, why


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m web.loadtest", description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="measured duration (60)")
    ap.add_argument("--users", type=int, default=50, help="concurrent clients (50)")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of load not counted (5)")
    ap.add_argument("--wait", default="0.5,1.5", help="think time per client, s: min,max")
    ap.add_argument("--p95-ms", type=float, default=50.0, help="target p95 in ms (50)")
    ap.add_argument("--json", type=Path, default=Path("artifacts/bench/http-load.json"))
    ap.add_argument("--demo-seconds", type=float, default=2.0, help="solver limit of the demo")
    ap.add_argument("--keep", action="store_true", help="keep the temporary database and logs")
    ap.add_argument("--strict", action="store_true", help="exit 1 when the targets are missed")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="loopvan-load-"))
    url = os.environ.get("LOOPVAN_BENCH_DATABASE_URL") or f"sqlite:///{work / 'loopvan.db'}"
    kind = url.split(":", 1)[0].split("+", 1)[0]
    os.environ["LOOPVAN_BENCH_WAIT"] = args.wait
    server: subprocess.Popen[bytes] | None = None
    try:
        print(f"preparing a demo database ({kind}) ...", flush=True)
        t = time.monotonic()
        tokens = prepare_database(url, args.demo_seconds, work / "demo.log")
        os.environ["LOOPVAN_BENCH_TOKENS"] = ",".join(tokens)
        print(f"  plans published, {len(tokens)} device tokens ({time.monotonic() - t:.0f} s)")
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = serve(url, port, work / "server.log")
        print(f"serving on {base} (loopvan serve: Werkzeug, threaded)", flush=True)
        warm_up(base, tokens)
        print(
            f"locust: {args.users} clients, think time {args.wait} s, "
            f"{args.warmup:g} s warm-up + {args.seconds:g} s measured ...",
            flush=True,
        )
        result = run_locust(base, args.users, args.seconds, args.warmup, server.pid)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    ok, why = verdict(result, args.p95_ms)
    print()
    print(_table([*result["endpoints"], result["total"]]))
    for e in result["errors"][:10]:
        print(f"  error x{e['occurrences']}: {e['method']} {e['name']}: {e['error']}")
    cpu, load = result["cpu_share_of_one_core"], result["load_average_1min"]
    print(
        f"  CPU (share of one core): server {cpu['server']}, locust {cpu['locust']}; "
        f"load average {load['start']} -> {load['end']} on {os.cpu_count()} cores"
    )
    print()
    print(f"{'PASS' if ok else 'FAIL'}: p95 < {args.p95_ms:g} ms and zero errors" + (
        "" if ok else " — " + "; ".join(why)))  # fmt: skip
    doc = {
        "benchmark": "http-load",
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "server": "loopvan serve (Werkzeug threaded) on 127.0.0.1",
        "database": kind,
        "load": {
            "tool": "locust (FastHttpUser), headless, in-process",
            "users": args.users,
            "think_time_s": args.wait,
            "mix": "route pull : booking create = 3 : 1; half the pulls with If-None-Match",
            "warmup_s": args.warmup,
        },
        "targets": {"p95_ms": args.p95_ms, "failures": 0},
        "pass": ok,
        "why": why,
        **result,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {args.json}")
    return 1 if (args.strict and not ok) else 0


if __name__ == "__main__":
    sys.exit(main())
