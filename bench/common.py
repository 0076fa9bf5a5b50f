"""What the benchmarks share: a throw-away database, the real service in a
subprocess, tokens, a bounded HTTP load on 127.0.0.1, and a table printer.

Loads go to 127.0.0.1 only, for a fixed time, and stop by themselves. wrk is
used when installed (``apt-get install wrk``), which keeps the load generator
from competing with the service for the interpreter; otherwise a Python
generator runs and the figures say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
# After seeding: the register as it is once autovacuum has been by (statistics, and the
# visibility map that lets counts over an index skip the table), not the minute after a
# bulk load.
STEADY_STATE = "VACUUM ANALYZE"
BIN = Path(sys.executable).parent


def _run_async(coro: Any) -> Any:
    return asyncio.run(coro)


@contextlib.contextmanager
def bench_database() -> Iterator[str]:
    """A fresh, migrated database on the embedded server in var/bench (dropped after)."""
    from db.embedded import drop_database, ensure_database, start_server, with_database

    admin = os.environ.get("FLEETSVC_BENCH_DATABASE_URL") or start_server(ROOT / "var" / "bench")
    name = f"fleetsvc_bench_{uuid.uuid4().hex[:8]}"
    _run_async(ensure_database(admin, name))
    url = with_database(admin, name)
    try:
        subprocess.run(
            [str(BIN / "fleetsvc"), "db", "migrate"],
            env={**os.environ, "DATABASE_URL": url, "FLEETSVC_LOG_LEVEL": "warning"},
            check=True,
            capture_output=True,
        )
        os.environ["DATABASE_URL"] = url  # for in-process service calls
        yield url
    finally:
        _run_async(drop_database(admin, name))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, path: str = "/ready", timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + path, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{base}{path} did not become ready")


@contextlib.contextmanager
def service(database_url: str, port: int | None = None) -> Iterator[str]:
    """The real service (``fleetsvc serve``) in a subprocess; yields its base URL."""
    with service_process(database_url, port) as (base, _pid):
        yield base


@contextlib.contextmanager
def service_process(database_url: str, port: int | None = None) -> Iterator[tuple[str, int]]:
    """``service``, yielding its process id too (for its CPU time and peak memory)."""
    port = port or free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "FLEETSVC_LOG_LEVEL": "warning",
        "FLEETSVC_PORT": str(port),
        "FLEETSVC_HOST": "127.0.0.1",
    }
    proc = subprocess.Popen(
        [str(BIN / "fleetsvc"), "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@contextlib.contextmanager
def bare_service(database_url: str, port: int | None = None) -> Iterator[str]:
    """The ceiling: a bare Litestar app answering the same rows with raw asyncpg."""
    port = port or free_port()
    env = {**os.environ, "DATABASE_URL": database_url}
    proc = subprocess.Popen(
        [
            str(BIN / "python"),
            "-m",
            "uvicorn",
            "bench.bare_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, "/health")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def make_token(database_url: str, role: str) -> str:
    out = subprocess.run(
        [
            str(BIN / "fleetsvc"),
            "tokens",
            "create",
            "--name",
            f"bench-{uuid.uuid4().hex[:8]}",
            "--role",
            role,
        ],
        env={**os.environ, "DATABASE_URL": database_url, "FLEETSVC_LOG_LEVEL": "warning"},
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


@dataclass(frozen=True, slots=True)
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    tool: str


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(
    paths: Sequence[str], base: str, headers: dict[str, str], seconds: int, connections: int
) -> LoadResult:
    sample = list(paths)[:20_000]
    lua_paths = ",\n".join('"' + p.replace('"', '\\"') + '"' for p in sample)
    script = (
        f"local paths = {{\n{lua_paths}\n}}\n"
        "local n = #paths\n"
        "request = function()\n"
        "  return wrk.format('GET', paths[math.random(n)])\n"
        "end\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        lua = f.name
    try:
        cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", lua]
        for k, v in headers.items():
            cmd += ["-H", f"{k}: {v}"]
        out = subprocess.run(
            [*cmd, base], capture_output=True, text=True, timeout=seconds + 30
        ).stdout
    finally:
        os.unlink(lua)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * _UNIT[m.group(2)] if m else float("nan")

    errors = 0
    for pattern in (
        r"Non-2xx or 3xx responses: (\d+)",
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
    ):
        m = re.search(pattern, out)
        if m:
            errors += sum(int(g) for g in m.groups())
    return LoadResult(rps, pct("50"), pct("99"), errors, "wrk")


async def _python_load(
    paths: Sequence[str], base: str, headers: dict[str, str], seconds: int, connections: int
) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as client:

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < stop:
                t = time.perf_counter()
                r = await client.get(random.choice(paths))
                latencies.append((time.perf_counter() - t) * 1000)
                if r.status_code >= 300:
                    errors += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.monotonic() - started
    q = statistics.quantiles(latencies, n=100)
    return LoadResult(len(latencies) / elapsed, q[49], q[98], errors, "python")


def http_load(
    paths: str | Sequence[str],
    base: str,
    headers: dict[str, str] | None = None,
    seconds: int = 10,
    connections: int = 32,
) -> LoadResult:
    """GET ``paths`` (chosen at random) against ``base`` (127.0.0.1 only) for ``seconds``."""
    if not base.startswith(("http://127.0.0.1", "http://localhost")):
        raise ValueError("benchmarks only load 127.0.0.1")
    paths = [paths] if isinstance(paths, str) else list(paths)
    headers = headers or {}
    if shutil.which("wrk"):
        return _wrk(paths, base, headers, seconds, connections)
    return asyncio.run(_python_load(paths, base, headers, seconds, connections))


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (/proc/<pid>/stat), or None when it
    is not on this machine (a remote database's backend) or has ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: the fields after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_peak_rss_mb(pid: int) -> float | None:
    """Peak resident memory of process ``pid`` so far (VmHWM), or None."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(found.group(1)) / 1024 if found else None


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_table(title: str, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print(f"\n{title}")
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(
            "  ".join(
                v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(row, widths, strict=True)
            )
        )


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 100 else f"{v:.2f}"
    return "" if v is None else str(v)


def _numeric(v: str) -> bool:
    return bool(re.fullmatch(r"[-\d.,%x×]+", v))


def load_row(name: str, r: LoadResult, baseline: LoadResult | None = None) -> dict[str, object]:
    row: dict[str, object] = {
        "what": name,
        "req/s": r.rps,
        "p50 ms": r.p50_ms,
        "p99 ms": r.p99_ms,
        "errors": r.errors,
    }
    if baseline is not None:
        row["vs ceiling"] = f"{100 * r.rps / baseline.rps:.0f}%"
    return row
