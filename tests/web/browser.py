"""The real service in a subprocess and headless Chromium driving it (Playwright's Python
package with Debian's Chromium: never ``playwright install``, which downloads a browser).

Shared by the browser tests and ``make screenshots``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

CHROMIUM = Path(os.environ.get("FLEETSVC_CHROMIUM", "/usr/bin/chromium"))
HOW_TO_RUN = (
    f"browser tests skipped: no Chromium at {CHROMIUM} "
    "(apt-get install -y chromium, or set FLEETSVC_CHROMIUM, then make test)"
)
# The flags that work here as root, with no network beyond loopback (STACK.md).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    if not CHROMIUM.exists():
        return HOW_TO_RUN
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "browser tests skipped: the playwright package is not installed (make test)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_service(database_url: str, **env: str) -> Iterator[str]:
    """``fleetsvc serve`` on a free localhost port against ``database_url``; its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "fleetsvc"), "serve"],
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "FLEETSVC_HOST": "127.0.0.1",
            "FLEETSVC_PORT": str(port),
            "FLEETSVC_LOG_LEVEL": "warning",
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the service did not start: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                if httpx.get(base + "/ready", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not become ready in 60 s")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
