"""`fleetsvc worker` processes for the tests: started with the test kinds, read back from
their JSON log (kept in a file, so a full pipe never blocks them)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.fleetsvc.jobs.helpers import PLUGIN

ROOT = Path(__file__).resolve().parents[3]
FLEETSVC = str(Path(sys.executable).parent / "fleetsvc")


class WorkerProcess:
    def __init__(self, database_url: str, *args: str, **env: str) -> None:
        self.log = Path(tempfile.mkstemp(prefix="fleetsvc-worker-", suffix=".log")[1])
        environment = {
            **os.environ,
            "DATABASE_URL": database_url,
            "PYTHONPATH": str(ROOT),
            "FLEETSVC_JOB_PLUGINS": PLUGIN,
            "FLEETSVC_JOB_LEASE_SECONDS": "2",
            "FLEETSVC_LOG_FORMAT": "json",
            "FLEETSVC_LOG_LEVEL": "info",
            **env,
        }
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [FLEETSVC, *(args or ("worker",))],
                env=environment,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=out,
            )
        self.owner = ""

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if name is None or entry.get("event") == name:
                    found.append(entry)
        return found

    async def started(self, within: float = 90.0) -> str:
        """Wait until the worker logs that it runs; its lease owner name."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not (entries := self.events("worker_started")):
            assert self.proc.poll() is None, self.log.read_text()
            assert loop.time() < deadline, self.log.read_text()
            await asyncio.sleep(0.05)
        self.owner = str(entries[0]["owner"])
        return self.owner

    async def logged(self, *names: str, within: float = 90.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for name in names:
                if entries := self.events(name):
                    return entries[0]
            assert loop.time() < deadline, f"none of {names} in:\n{self.log.read_text()}"
            await asyncio.sleep(0.05)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    async def stopped(self, within: float = 120.0) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while (code := self.proc.poll()) is None:
            assert loop.time() < deadline, self.log.read_text()
            await asyncio.sleep(0.05)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
        if not os.environ.get("KEEP_WORKER_LOGS"):
            self.log.unlink(missing_ok=True)
