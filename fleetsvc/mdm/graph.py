"""The MDM's Graph API, read-only: a client-credentials token, then the managed device list
page by page (``@odata.nextLink``).

Throttling is honoured: a 429 (or a 503 with Retry-After) waits as long as the MDM asks;
5xx answers, timeouts and dropped connections are retried with exponential back-off and
jitter, a bounded number of times, then the pull fails with a clear message. The client
secret and the access token never reach a log line or an error message.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import httpx
import msgspec

from fleetsvc.auth import Actor
from fleetsvc.errors import FleetError, Unavailable
from fleetsvc.logs import get_logger
from fleetsvc.mdm.checks import ManagedDevice
from fleetsvc.mdm.runs import Run, new_run_key
from fleetsvc.mdm.sync import PULL_BATCH, BatchApplied, chunk_devices, run_batches
from fleetsvc.vocabulary import MdmRunSource

log = get_logger("fleetsvc.graph")

ENV_GRAPH_URL: Final = "FLEETSVC_MDM_GRAPH_URL"
ENV_TOKEN_URL: Final = "FLEETSVC_MDM_TOKEN_URL"  # noqa: S105 - a variable's name
ENV_CLIENT_ID: Final = "FLEETSVC_MDM_CLIENT_ID"
ENV_CLIENT_SECRET: Final = "FLEETSVC_MDM_CLIENT_SECRET"  # noqa: S105 - a variable's name
ENV_SCOPE: Final = "FLEETSVC_MDM_SCOPE"
ENV_TIMEOUT: Final = "FLEETSVC_MDM_TIMEOUT_SECONDS"
DEFAULT_SCOPE: Final = "https://graph.microsoft.com/.default"
MAX_PAGES: Final = 100_000
_LOOPBACK: Final = ("127.0.0.1", "localhost", "::1")
# What the device list is asked for: the fields ManagedDevice reads, as the Graph API
# names them (so a field added there is asked for too).
GRAPH_SELECT: Final = tuple(f.encode_name for f in msgspec.structs.fields(ManagedDevice))


class GraphConfigError(FleetError):
    title = "MDM pull is not configured"


class GraphError(Unavailable):
    """The MDM could not be read; the message says why (never a secret or a token)."""

    title = "MDM unavailable"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _check_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    # A secret and a bearer token travel on these: plain http only to this machine.
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK
    )
    if not parts.hostname or not secure:
        raise GraphConfigError(f"{name} must be an https:// URL (http:// only for localhost)")
    return value.rstrip("/")


@dataclass(frozen=True, slots=True)
class GraphConfig:
    graph_url: str
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str = DEFAULT_SCOPE
    timeout_seconds: float = 30.0
    max_retries: int = 5
    backoff_seconds: float = 1.0
    max_wait_seconds: float = 120.0
    page_size: int = 999

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GraphConfig:
        """Read the FLEETSVC_MDM_* variables; a missing or bad one is named in the error."""
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return env.get(name, "").strip()

        required = (ENV_GRAPH_URL, ENV_TOKEN_URL, ENV_CLIENT_ID, ENV_CLIENT_SECRET)
        missing = [name for name in required if not get(name)]
        if missing:
            raise GraphConfigError(f"set {', '.join(missing)} to pull from the MDM")
        timeout = 30.0
        if get(ENV_TIMEOUT):
            try:
                timeout = float(get(ENV_TIMEOUT))
            except ValueError:
                timeout = -1.0
            if not 0.1 <= timeout <= 600:
                raise GraphConfigError(f"{ENV_TIMEOUT} must be a number of seconds from 0.1 to 600")
        return cls(
            graph_url=_check_url(ENV_GRAPH_URL, get(ENV_GRAPH_URL)),
            token_url=_check_url(ENV_TOKEN_URL, get(ENV_TOKEN_URL)),
            client_id=get(ENV_CLIENT_ID),
            client_secret=get(ENV_CLIENT_SECRET),
            scope=get(ENV_SCOPE) or DEFAULT_SCOPE,
            timeout_seconds=timeout,
        )


class _Token(msgspec.Struct):
    access_token: str
    expires_in: int | None = None


class _Page(msgspec.Struct):
    value: list[ManagedDevice]
    next_link: str | None = msgspec.field(default=None, name="@odata.nextLink")


@dataclass(slots=True)
class PullStats:
    requests: int = 0
    retries: int = 0
    pages: int = 0
    devices: int = 0
    waited_seconds: float = 0.0
    waits: list[float] = field(default_factory=list)


def _error_code(response: httpx.Response) -> str:
    """The MDM's own error code, if the body has one (never the whole body)."""
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return ""
    if isinstance(body, dict):
        err = body.get("error")
        code = err.get("code") if isinstance(err, dict) else err
        if isinstance(code, str) and code.isprintable():
            return f" ({code[:80]})"
    return ""


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after", "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class GraphClient:
    """Reads the managed device list; use as ``async with GraphClient(config) as g``."""

    def __init__(
        self,
        config: GraphConfig,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.stats = PullStats()
        self._sleep = sleep
        self._jitter = jitter
        self._token: str | None = None
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(config.timeout_seconds),
            headers={"Accept": "application/json"},
            follow_redirects=False,
            transport=transport,
        )

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    def _backoff(self, attempt: int) -> float:
        base = self.config.backoff_seconds * (2**attempt)
        return float(min(self.config.max_wait_seconds, base * (0.5 + self._jitter())))

    async def _send(self, what: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, retried when the MDM is throttling, failing or slow."""
        cfg = self.config
        for attempt in range(cfg.max_retries + 1):
            self.stats.requests += 1
            try:
                response = await self._http.request(method, url, **kwargs)
            except httpx.TimeoutException:
                reason = f"{what} timed out after {cfg.timeout_seconds:g} s"
                wait = self._backoff(attempt)
            except httpx.TransportError as exc:
                reason = f"{what} failed ({type(exc).__name__})"
                wait = self._backoff(attempt)
            else:
                status = response.status_code
                if status < 400:
                    return response
                asked = _retry_after(response)
                if status == 429 or (status == 503 and asked is not None):
                    reason = f"{what} was throttled ({status})"
                    wait = min(cfg.max_wait_seconds, asked if asked is not None else 0.0)
                    if asked is None:
                        wait = self._backoff(attempt)
                elif status >= 500:
                    reason = f"{what} answered {status}{_error_code(response)}"
                    wait = self._backoff(attempt)
                else:
                    raise GraphError(f"{what} answered {status}{_error_code(response)}", status)
            if attempt == cfg.max_retries:
                raise GraphError(f"{reason}; gave up after {attempt + 1} attempts")
            self.stats.retries += 1
            self.stats.waits.append(wait)
            self.stats.waited_seconds += wait
            log.warning(
                "mdm_graph_retry", what=what, attempt=attempt + 1, wait_s=round(wait, 3), why=reason
            )
            await self._sleep(wait)
        raise AssertionError("unreachable")

    async def _fetch_token(self) -> str:
        cfg = self.config
        response = await self._send(
            "the MDM token request",
            "POST",
            cfg.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": cfg.client_id,
                "client_secret": cfg.client_secret,
                "scope": cfg.scope,
            },
        )
        try:
            token = msgspec.json.decode(response.content, type=_Token)
        except msgspec.DecodeError:
            raise GraphError("the MDM token endpoint did not return an access_token") from None
        if not token.access_token:
            raise GraphError("the MDM token endpoint returned an empty access_token")
        return token.access_token

    def first_page_url(self) -> str:
        query = urlencode({"$select": ",".join(GRAPH_SELECT), "$top": self.config.page_size})
        return f"{self.config.graph_url}/deviceManagement/managedDevices?{query}"

    def _check_next(self, url: str) -> str:
        # The bearer token is only ever sent back to the MDM's own host.
        base, nxt = urlsplit(self.config.graph_url), urlsplit(url)
        if (nxt.scheme, nxt.netloc) != (base.scheme, base.netloc):
            raise GraphError("the MDM's next page link points to another host; refusing it")
        return url

    async def _page(self, url: str) -> _Page:
        if self._token is None:
            self._token = await self._fetch_token()
        what = f"the MDM device list (page {self.stats.pages + 1})"
        try:
            response = await self._send(
                what, "GET", url, headers={"Authorization": f"Bearer {self._token}"}
            )
        except GraphError as exc:
            if exc.status != 401:
                raise
            # The token expired part way through a long pull: fetch a new one, once.
            self._token = await self._fetch_token()
            response = await self._send(
                what, "GET", url, headers={"Authorization": f"Bearer {self._token}"}
            )
        try:
            return msgspec.json.decode(response.content, type=_Page)
        except msgspec.DecodeError as exc:
            raise GraphError(f"{what} was not in the expected form: {exc}") from None

    async def managed_devices(self) -> AsyncIterator[list[ManagedDevice]]:
        """The MDM's devices, one page at a time."""
        url: str | None = self.first_page_url()
        seen: set[str] = set()
        while url is not None:
            if url in seen or len(seen) >= MAX_PAGES:
                raise GraphError("the MDM's paging went round in a loop; stopping")
            seen.add(url)
            page = await self._page(url)
            self.stats.pages += 1
            self.stats.devices += len(page.value)
            yield page.value
            url = self._check_next(page.next_link) if page.next_link else None


async def pull(
    actor: Actor,
    config: GraphConfig,
    *,
    run_key: str | None = None,
    batch_size: int = PULL_BATCH,
    client: GraphClient | None = None,
    on_batch: BatchApplied | None = None,
) -> tuple[Run, PullStats]:
    """``fleetsvc mdm pull``: one run (source ``pull``) fed from the Graph API in batches.

    A pull that fails part way leaves the run failed: the batches already applied stay,
    the records of the unfinished batch are not applied, nothing is marked unseen. A job
    that runs pulls passes ``on_batch`` to record its progress with each batch.
    """
    key = run_key or new_run_key(MdmRunSource.PULL)
    async with client or GraphClient(config) as g:
        pages = chunk_devices(g.managed_devices(), batch_size)
        run = await run_batches(actor, key, MdmRunSource.PULL, pages, on_batch=on_batch)
        return run, g.stats
