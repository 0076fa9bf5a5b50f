"""The ceiling for read benchmarks: bare Litestar + a raw asyncpg pool, no auth,
no logging, no metrics, returning the same rows the service returns."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar import Litestar, Response, get
from litestar.params import FromPath

_pool: dict[str, asyncpg.Pool] = {}


@asynccontextmanager
async def lifespan(_: Litestar) -> AsyncIterator[None]:
    _pool["p"] = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=2, max_size=10)
    yield
    await _pool["p"].close()


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


async def _row(sql: str, key: Any) -> Response[Any]:
    row = await _pool["p"].fetchrow(sql, key)
    if row is None:
        return Response({"detail": "not found"}, status_code=404)
    return Response(
        {
            k: (str(v) if v is not None and not isinstance(v, int | str | bool) else v)
            for k, v in row.items()
        }
    )


@get("/business-units/{bu_id:int}")
async def business_unit(bu_id: FromPath[int]) -> Response[Any]:
    return await _row("SELECT * FROM business_unit WHERE id = $1", bu_id)


@get("/assets/{asset_id:int}")
async def asset(asset_id: FromPath[int]) -> Response[Any]:
    return await _row("SELECT * FROM asset WHERE id = $1", asset_id)


app = Litestar([health, business_unit, asset], lifespan=[lifespan], logging_config=None)
