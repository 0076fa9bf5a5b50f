"""The skeleton's bench: GET /health and an authenticated GET of one record,
against a bare Litestar + asyncpg app serving the same row (the ceiling).

    .venv/bin/python -m bench.service [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio

import asyncpg

from bench.common import (
    bare_service,
    bench_database,
    http_load,
    load_row,
    make_token,
    print_table,
    service,
)


async def _seed(url: str, n: int = 200) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "INSERT INTO business_unit (code, name) SELECT 'BU' || g, 'Unit ' || g"
            " FROM generate_series(1, $1) g RETURNING id",
            n,
        )
    finally:
        await conn.close()
    return [r["id"] for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    with bench_database() as url:
        ids = asyncio.run(_seed(url))
        token = make_token(url, "auditor")
        auth = {"Authorization": f"Bearer {token}"}
        results = []
        with bare_service(url) as bare:
            ceiling_health = http_load(
                "/health", bare, seconds=args.seconds, connections=args.connections
            )
            ceiling = http_load(
                [f"/business-units/{i}" for i in ids],
                bare,
                seconds=args.seconds,
                connections=args.connections,
            )
        with service(url) as base:
            health = http_load("/health", base, seconds=args.seconds, connections=args.connections)
            read = http_load(
                [f"/api/v1/business-units/{i}" for i in ids],
                base,
                auth,
                seconds=args.seconds,
                connections=args.connections,
            )
        results = [
            load_row("bare: GET /health", ceiling_health),
            load_row("bare: GET one row (asyncpg)", ceiling),
            load_row("fleetsvc: GET /health", health, ceiling_health),
            load_row("fleetsvc: GET one record, authenticated", read, ceiling),
        ]
        print_table(
            f"{args.connections} connections, {args.seconds} s each, load by {read.tool}", results
        )


if __name__ == "__main__":
    main()
