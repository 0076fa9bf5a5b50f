"""The real server process: `fleetsvc serve` logs one JSON line per request,
with a request id and no token, query string or personal data, and bad
requests never log an error."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import TokenFactory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _ready(client: httpx.AsyncClient, proc: subprocess.Popen[str]) -> None:
    """Poll ``/ready`` until the server answers 200. A loaded machine may take many seconds
    to start it: a count of tries ran out there and the test went on to a refused
    connection, so the limit is generous, and a server that stopped fails at once."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"fleetsvc serve stopped at start: {proc.communicate()[1]}"
        try:
            if (await client.get("/ready")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("fleetsvc serve did not become ready in 120 s")


async def test_serve_logs_each_request_once_without_secrets(
    database_url: str, make_token: TokenFactory
) -> None:
    token = await make_token("auditor")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "FLEETSVC_PORT": str(port),
        "FLEETSVC_LOG_FORMAT": "auto",
        "FLEETSVC_LOG_LEVEL": "info",
    }
    exe = str(Path(sys.executable).parent / "fleetsvc")
    proc = subprocess.Popen(
        [exe, "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            await _ready(client, proc)
            secret_query = "imei=352099001761481&upn=jane.smith@force.example"
            r = await client.get(
                f"/api/v1/assets?{secret_query}",
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": "trace-me-1"},
            )
            assert r.status_code == 200
            assert r.headers["x-request-id"] == "trace-me-1"
            bad = await client.post(
                "/api/v1/tokens",
                content=b"{not json",
                headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
            )
            assert bad.status_code in (400, 403)
            assert (await client.get("/nope")).status_code == 404
            # Personal data where an id belongs: a 404 whose path must not reach the log.
            for wrong in (
                "/api/v1/people/jane.smith@force.example",
                "/api/v1/sims/07700900123x",
                "/api/v1/mdm/runs/jane.smith@force.example",  # a route with a text key
            ):
                r = await client.get(wrong, headers={"Authorization": f"Bearer {token}"})
                assert r.status_code == 404
            assert (await client.get("/api/v1/events")).status_code == 401
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    requests = [e for e in lines if e.get("event") == "request"]
    traced = [e for e in requests if e.get("request_id") == "trace-me-1"]
    assert len(traced) == 1, requests
    entry = traced[0]
    assert entry["method"] == "GET" and entry["path"] == "/api/v1/assets"
    assert entry["status"] == 200 and entry["duration_ms"] >= 0 and entry["role"] == "auditor"
    unmatched = [e for e in requests if e["path"] == "/*"]
    assert len(unmatched) == 1 and unmatched[0]["status"] == 404  # unmatched routes too
    # Only the app's own words of an unmatched path are kept.
    assert "/api/v1/people/*" in [e["path"] for e in requests]
    assert "/api/v1/sims/*" in [e["path"] for e in requests]
    assert "/api/v1/mdm/runs/*" in [e["path"] for e in requests]
    assert "07700900123" not in stderr
    assert token not in stderr
    assert "352099001761481" not in stderr and "jane.smith" not in stderr
    assert not [e for e in lines if e.get("level") == "error"], "bad requests must not log errors"
    assert "Traceback" not in stderr


VAR_TEST = Path(__file__).resolve().parent.parent / "var" / "test"


def _postmaster_running(pgdata: Path) -> bool:
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return False
    pid = int(pidfile.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_stops_the_embedded_database_with_the_server(stop: signal.Signals) -> None:
    """`make run` stopped with SIGTERM (kill, a service manager) or Ctrl-C must not leave the
    embedded PostgreSQL running: uvicorn re-raises the signal after its graceful shutdown,
    and the default action skipped the exit hook that stops the server. A stop asked for is
    a clean exit: status 0 (make said "Error 143"), no traceback."""
    data_dir = VAR_TEST / f"{stop.name.lower()}-{os.getpid()}"
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "FLEETSVC_MIGRATION_DATABASE_URL")
    }
    env |= {"FLEETSVC_DATA_DIR": str(data_dir), "FLEETSVC_PORT": str(port)}
    exe = str(Path(sys.executable).parent / "fleetsvc")
    proc = subprocess.Popen(
        [exe, "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # As a terminal's Ctrl-C finds it (a shell's background job would ignore SIGINT).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            await _ready(client, proc)
        assert _postmaster_running(data_dir / "pg")
        proc.send_signal(stop)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr
        assert not _postmaster_running(data_dir / "pg"), "embedded PostgreSQL left running"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if _postmaster_running(data_dir / "pg"):
            os.kill(int((data_dir / "pg" / "postmaster.pid").read_text().split()[0]), 2)
            await asyncio.sleep(2)
        shutil.rmtree(data_dir, ignore_errors=True)


def test_serve_that_cannot_listen_says_so_in_one_line(database_url: str) -> None:
    """An unknown FLEETSVC_HOST or a port in use stops `serve` at once with one line,
    before the database is touched (uvicorn's own message named neither setting)."""
    exe = str(Path(sys.executable).parent / "fleetsvc")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        for host, port, reason in [
            ("no-such-host.invalid", 8000, ""),  # the resolver's words differ by platform
            ("127.0.0.1", taken, "Address already in use"),
        ]:
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "FLEETSVC_HOST": host,
                "FLEETSVC_PORT": str(port),
            }
            result = subprocess.run(
                [exe, "serve"], env=env, capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 2, result.stderr
            [line] = result.stderr.strip().splitlines()
            assert line.startswith(
                f"fleetsvc: cannot listen on {host}:{port} (FLEETSVC_HOST, FLEETSVC_PORT): "
            )
            assert line.endswith(reason)


def test_serve_runs_the_app_that_freezes_its_started_heap(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve` hands uvicorn the app whose startup freezes the heap (api.app.freeze_heap:
    each full garbage collection scanned every object of the started service, ~70 ms of a
    29,737-row upload), and freezing leaves the objects there out of the collector's reach."""
    import gc
    import importlib

    import uvicorn
    from click.testing import CliRunner

    from api import app as app_module
    from fleetsvc import cli

    served: dict[str, object] = {}

    async def ready(settings: object) -> None:
        return None

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setattr(
        uvicorn, "run", lambda target, **options: served.update(options, target=target)
    )
    monkeypatch.setattr(cli, "ready_database", ready)
    monkeypatch.setattr(cli, "_check_can_listen", lambda host, port: None)
    monkeypatch.setattr(signal, "signal", lambda signum, handler: None)  # pytest's stay
    result = CliRunner().invoke(cli.main, ["serve"])
    assert result.exit_code == 0, result.output
    module, name = str(served["target"]).split(":")
    assert served["factory"] is True
    app = getattr(importlib.import_module(module), name)()
    assert app_module.freeze_heap in app.on_startup
    assert gc.get_freeze_count() == 0
    try:
        app_module.freeze_heap()
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
