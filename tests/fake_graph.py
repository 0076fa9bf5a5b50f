"""A fake of the MDM's Graph API for tests: a token endpoint and the paged managed device
list, served by uvicorn on 127.0.0.1 in a thread, with scripted faults (throttling,
server errors, slow answers) per page."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn

TOKEN = "fake-access-token-0123456789"
SECRET = "fake-client-secret-do-not-log"


@dataclass
class Fault:
    status: int = 500
    retry_after: str | None = None
    delay: float = 0.0  # seconds to wait before answering (longer than the client's timeout)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    form: dict[str, list[str]]
    at: float


@dataclass
class FakeGraph:
    devices: list[dict[str, Any]]
    page_size: int = 2
    base: str = ""
    # Faults to answer with, in order, before page N is served (page numbers from 0).
    faults: dict[int, deque[Fault]] = field(default_factory=dict)
    always_fail_page: int | None = None
    next_link_base: str | None = None  # to point nextLink somewhere else
    requests: list[Request] = field(default_factory=list)
    tokens_issued: int = 0

    def fail(self, page: int, *faults: Fault) -> None:
        self.faults.setdefault(page, deque()).extend(faults)

    def page_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/managedDevices")]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        request = Request(
            scope["method"],
            scope["path"],
            parse_qs(scope["query_string"].decode()),
            headers,
            parse_qs(body.decode()) if scope["method"] == "POST" else {},
            time.monotonic(),
        )
        self.requests.append(request)
        if request.path == "/oauth2/token":
            status, payload, extra = self._token(request)
        elif request.path == "/v1.0/deviceManagement/managedDevices":
            status, payload, extra = await self._page(request)
        else:
            status, payload, extra = 404, {"error": {"code": "NotFound"}}, {}
        raw = json.dumps(payload).encode()
        out = [(b"content-type", b"application/json"), *extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": raw})

    def _token(self, request: Request) -> tuple[int, Any, dict[bytes, bytes]]:
        form = {k: v[0] for k, v in request.form.items()}
        if form.get("client_secret") != SECRET or form.get("grant_type") != "client_credentials":
            return 401, {"error": "invalid_client", "error_description": "bad secret"}, {}
        self.tokens_issued += 1
        return 200, {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3599}, {}

    async def _page(self, request: Request) -> tuple[int, Any, dict[bytes, bytes]]:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return 401, {"error": {"code": "InvalidAuthenticationToken"}}, {}
        page = int(request.query.get("$skiptoken", ["0"])[0])
        pending = self.faults.get(page)
        if pending:
            fault = pending.popleft()
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status != 200:
                extra = {b"retry-after": fault.retry_after.encode()} if fault.retry_after else {}
                return fault.status, {"error": {"code": "TooManyRequests"}}, extra
        if self.always_fail_page == page:
            return 500, {"error": {"code": "InternalServerError"}}, {}
        start = page * self.page_size
        payload: dict[str, Any] = {"value": self.devices[start : start + self.page_size]}
        if start + self.page_size < len(self.devices):
            base = self.next_link_base or self.base
            payload["@odata.nextLink"] = (
                f"{base}/v1.0/deviceManagement/managedDevices?$skiptoken={page + 1}"
            )
        return 200, payload, {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(fake: FakeGraph) -> Iterator[str]:
    """Serve ``fake`` on 127.0.0.1 in a background thread; yields its base URL."""
    port = _free_port()
    fake.base = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(
        fake,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_config=None,
        log_level="critical",
        access_log=False,
        loop="asyncio",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fake-graph", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake Graph server did not start")
        time.sleep(0.01)
    try:
        yield fake.base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
