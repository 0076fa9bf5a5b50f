"""Request ids, the one log line per request, and the request metrics.

One middleware does all three: a request pays for one wrapper, not three.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable
from typing import Any

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Histogram

from fleetsvc.logs import get_logger

log = get_logger("api.request")

# Labelled by route template (/api/v1/assets/{asset_id:int}), never the raw
# path, so ids do not multiply the series; unmatched paths share one label.
REQUESTS = Counter(
    "fleetsvc_requests_total", "HTTP requests answered", ["method", "path", "status_code"]
)
DURATION = Histogram(
    "fleetsvc_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "path"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
_UNMATCHED = "unmatched"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID.match(text):
                return text
            break
    return uuid.uuid4().hex


def route_words(paths: Iterable[str]) -> frozenset[str]:
    """The fixed segments of the app's routes (``api``, ``assets``, ``transitions``...)."""
    return frozenset(
        part for path in paths for part in path.split("/") if part and not part.startswith("{")
    )


def loggable_path(path: str, words: frozenset[str]) -> str:
    """A path that matched no route, with every segment that is not one of the app's own
    words replaced by ``*``: a caller may have put an e-mail address, a phone number or a
    name where an id belongs (``/api/v1/people/jane.smith@force.example``)."""
    return "/".join(part if part in words or not part else "*" for part in path.split("/"))


def matched_path(scope: Scope) -> str:
    """A matched route's path, with any text parameter that is not a plain key (letters,
    digits, ``. : - _``) logged as ``*``: ``/mdm/runs/{run_key}`` takes whatever the
    caller sends, and an e-mail address there is personal data."""
    path = str(scope["path"])
    odd = {
        value
        for value in (scope.get("path_params") or {}).values()
        if isinstance(value, str) and not _REQUEST_ID.match(value)
    }
    if not odd:
        return path
    return "/".join("*" if part in odd else part for part in path.split("/"))


def request_log_middleware(app: ASGIApp, words: frozenset[str] = frozenset()) -> ASGIApp:
    """Give each request an id (echoed as X-Request-ID) and log it once.

    The path is logged without its query string: filters such as ``imei=`` or
    ``msisdn=`` are personal data. A matched route's path holds only its ids; a
    path that matched nothing is logged with only the app's own ``words`` kept.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        rid = request_id_from(scope)
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message["headers"] = headers
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=rid)
        try:
            await app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            method = str(scope.get("method"))
            template = scope.get("path_template")
            route = str(template or _UNMATCHED)
            if route != "/metrics":
                REQUESTS.labels(method, route, str(status)).inc()
                DURATION.labels(method, route).observe(elapsed)
            state = scope.get("state", {})
            # The error map names what made a 503 (the driver's exception class).
            error = {"error": state["error"]} if "error" in state else {}
            (log.warning if error else log.info)(
                "request",
                method=method,
                path=matched_path(scope) if template else loggable_path(scope["path"], words),
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                role=getattr(state.get("actor"), "role", None),
                **error,
            )
            structlog.contextvars.unbind_contextvars("request_id")

    return middleware


def route_methods(routes: Iterable[Any]) -> dict[int, bytes]:
    """The ``Allow`` value for each path, by the id of its OPTIONS handler: the methods the
    path really has. (Litestar 2 builds a path's OPTIONS answer from the first controller
    that declares the path, so ``/api/v1/assets`` said ``OPTIONS, POST``, not ``GET``.)"""
    allow: dict[int, bytes] = {}
    for route in routes:
        handlers = getattr(route, "route_handler_map", {})
        if "OPTIONS" in handlers:
            methods = ", ".join(sorted(route.methods))
            allow[id(handlers["OPTIONS"][0])] = methods.encode()
    return allow


def options_allow_middleware(app: ASGIApp, allow: dict[int, bytes]) -> ASGIApp:
    """Answer OPTIONS with the ``Allow`` header ``route_methods`` worked out."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope.get("method") != "OPTIONS":
            await app(scope, receive, send)
            return

        async def send_allow(message: Message) -> None:
            if message["type"] == "http.response.start":
                methods = allow.get(id(scope.get("route_handler")))
                if methods is not None:
                    message["headers"] = [
                        *(h for h in message.get("headers", []) if h[0].lower() != b"allow"),
                        (b"allow", methods),
                    ]
            await send(message)

        await app(scope, receive, send_allow)

    return middleware
