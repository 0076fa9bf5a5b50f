"""The connection pool: requests waiting for a connection are served in arrival order, and
every connection gets the session settings the service relies on."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Any

from db import engine


async def test_a_waiting_request_is_not_passed_over(app: object) -> None:
    """Every connection is taken and two requests wait. One connection is given back while
    new requests keep arriving: the waiting two are served first (a connection handed to
    whoever asks next would let newcomers pass them, again and again under load)."""
    held: list[AbstractAsyncContextManager[Any]] = []
    for _ in range(engine.pool().get_max_size()):
        cm = engine.connection()
        await cm.__aenter__()
        held.append(cm)
    order: list[str] = []

    async def request(name: str, arrives_after_steps: int = 0) -> None:
        for _ in range(arrives_after_steps):
            await asyncio.sleep(0)
        async with engine.connection() as conn:
            order.append(name)
            await conn.fetchval("SELECT 1")

    waiting = [asyncio.create_task(request(name)) for name in ("first", "second")]
    try:
        await asyncio.sleep(0.05)
        assert order == []  # both are waiting
        release = asyncio.ensure_future(held.pop().__aexit__(None, None, None))
        newcomers = [asyncio.create_task(request(f"newcomer {n}", n)) for n in range(4)]
        await release
        await asyncio.wait_for(asyncio.gather(*waiting, *newcomers), timeout=10)
    finally:
        for still_held in held:
            await still_held.__aexit__(None, None, None)
    assert order[:2] == ["first", "second"], order


async def test_connections_never_jit_compile(app: object) -> None:
    """Every pooled connection has the JIT off, whatever the server's default: a server
    with LLVM compiled a 29,737-row commit's statements for a minute (the CI's PostgreSQL
    15 does; the embedded one has no JIT, so only the setting can be checked here)."""
    async with engine.connection() as conn:
        assert await conn.fetchval("SHOW jit") == "off"
