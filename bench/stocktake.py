"""A stocktake by scan at the size of a big store: 5,000 scans against a location keeping
5,000 devices (in a register of 45,000), sent in batches of 100 as a scanner page or a
script would send them, timed per batch; next to the same run's baseline, the bare SELECT
of each batch's codes (one ``= ANY`` query, in a transaction of its own), timed just
before the batch it matches so that both meet the same noise.

Then the result (GET, 100 lines a section), the CSV of every line, and the close (freezing
5,000+ lines and moving the devices found here that the register had elsewhere); then the
same scans over HTTP through ``fleetsvc serve``.

    .venv/bin/python -m bench.stocktake [--devices 5000] [--others 40000] [--batch 100]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx

from bench.common import STEADY_STATE, bench_database, make_token, print_table, service
from fleetsvc.auth import Actor
from importers.fields import luhn_check_digit

ACTOR = Actor("bench", "stores")


def imei(i: int) -> str:
    body = f"35301122{i:06d}"
    return body + luhn_check_digit(body)


def serial(i: int) -> str:
    return f"R58S{i:07d}"


async def _seed(url: str, devices: int, others: int) -> dict[str, int]:
    """``devices`` in stock at one store, 500 at another, ``others`` deployed."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            model = await conn.fetchval(
                "INSERT INTO device_model (manufacturer, model_name, category, lifecycle_months)"
                " VALUES ('Samsung', 'Galaxy A32', 'smartphone', 36) RETURNING id"
            )
            here = await conn.fetchval(
                "INSERT INTO location (code, name) VALUES ('STN-CENTRAL', 'Central station')"
                " RETURNING id"
            )
            other = await conn.fetchval(
                "INSERT INTO location (code, name) VALUES ('STN-NORTH', 'North station')"
                " RETURNING id"
            )
            rows = []
            for i in range(devices + 500 + others):
                if i < devices:
                    status, location = "in_stock", here
                elif i < devices + 500:
                    status, location = "in_stock", other
                else:
                    status, location = "deployed", None
                rows.append((model, "samsung", serial(i), imei(i), status, location))
            await conn.copy_records_to_table(
                "asset",
                records=rows,
                columns=[
                    "model_id",
                    "manufacturer",
                    "serial_number",
                    "imei",
                    "status",
                    "location_id",
                ],
            )
        await conn.execute(STEADY_STATE)
    finally:
        await conn.close()
    return {"here": here, "other": other}


def scan_codes(devices: int, n: int, rng: random.Random) -> list[str]:
    """``n`` codes as a store's count gives them: most of its devices (by serial, some by
    IMEI, some typed in lower case), a few kept at the other store, a few the register does
    not know, and a few scanned twice."""
    unknown, elsewhere, twice = n // 100, n // 50, n // 100
    mine = n - unknown - elsewhere - twice
    picked = rng.sample(range(devices), mine)
    codes = []
    for k, i in enumerate(picked):
        if k % 10 == 0:
            codes.append(imei(i))
        elif k % 10 == 1:
            codes.append(serial(i).lower())
        else:
            codes.append(serial(i))
    codes += [serial(devices + j) for j in range(elsewhere)]
    codes += [f"UNKNOWN-{j:05d}" for j in range(unknown)]
    codes += rng.sample(codes, twice)
    rng.shuffle(codes)
    return codes


def _ms(samples: list[float]) -> dict[str, object]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "batches": len(samples),
        "p50 ms": statistics.median(ordered),
        "p99 ms": p99,
        "max ms": ordered[-1],
        "first ms": samples[0],
        "slowest": 1 + samples.index(ordered[-1]),
    }


async def _timed(job: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = await job()
    return (time.perf_counter() - start) * 1000, out


async def _in_process(ids: dict[str, int], batches: list[list[str]]) -> list[dict[str, object]]:
    from db.engine import close_pool, connection, open_pool, transaction
    from fleetsvc.stocktakes.close import close_stocktake
    from fleetsvc.stocktakes.documents import ScanBatch, StocktakeClose, StocktakeOpen
    from fleetsvc.stocktakes.report import report_csv, stocktake_export
    from fleetsvc.stocktakes.scans import record_scans
    from fleetsvc.stocktakes.service import get_stocktake, open_stocktake

    await open_pool(4)
    try:
        async with transaction() as conn:
            opened = await open_stocktake(conn, ACTOR, StocktakeOpen(location_id=ids["here"]))
        bare: list[float] = []
        scans: list[float] = []
        gc.collect()  # the seed's garbage, collected now rather than during a batch
        for codes in batches:

            async def select(codes: list[str] = codes) -> None:
                async with transaction() as conn:
                    await conn.fetch(
                        "SELECT id FROM asset WHERE serial_number = ANY($1::text[])",
                        [c.upper() for c in codes],
                    )

            async def scan(codes: list[str] = codes) -> Any:
                async with transaction() as conn:
                    return await record_scans(conn, ACTOR, opened.id, ScanBatch(codes=codes))

            bare.append((await _timed(select))[0])
            took, result = await _timed(scan)
            scans.append(took)
        counts = result.counts

        async def read() -> Any:
            async with connection() as conn:
                return await get_stocktake(conn, opened.id)

        async def csv() -> Any:
            async with connection() as conn:
                return report_csv(await stocktake_export(conn, opened.id))

        async def close() -> Any:
            async with transaction() as conn:
                return await close_stocktake(
                    conn, ACTOR, opened.id, StocktakeClose(move_elsewhere_here=True)
                )

        read_ms = (await _timed(read))[0]
        csv_ms, text = await _timed(csv)
        close_ms, closed = await _timed(close)
        frozen_ms = (await _timed(read))[0]
    finally:
        await close_pool()
    print(
        f"\ncounts after {sum(map(len, batches)):,} scans: {counts}"
        f"\nclosing moved {closed.moves.moved_here} devices here;"
        f" the CSV has {text.count(chr(10)) - 1:,} lines"
    )
    return [
        {"what": "baseline: bare SELECT of the batch's codes", **_ms(bare)},
        {"what": "fleetsvc: a batch of scans (in process)", **_ms(scans)},
        {"what": "result, 100 lines a section (open)", "p50 ms": read_ms},
        {"what": "result as CSV, every line", "p50 ms": csv_ms},
        {"what": "close: freeze + move elsewhere here", "p50 ms": close_ms},
        {"what": "result, 100 lines a section (closed)", "p50 ms": frozen_ms},
    ]


def _over_http(url: str, ids: dict[str, int], batches: list[list[str]]) -> dict[str, object]:
    token = make_token(url, "stores")
    with (
        service(url) as base,
        httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client,
    ):
        opened = client.post("/api/v1/stocktakes", json={"location_id": ids["here"]})
        opened.raise_for_status()
        path = f"/api/v1/stocktakes/{opened.json()['id']}/scans"
        samples = []
        for codes in batches:
            start = time.perf_counter()
            r = client.post(path, json={"codes": codes})
            samples.append((time.perf_counter() - start) * 1000)
            r.raise_for_status()
    return {"what": "fleetsvc: a batch of scans over HTTP", **_ms(samples)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=5000, help="devices kept at the store")
    ap.add_argument("--scans", type=int, default=5000)
    ap.add_argument("--others", type=int, default=40_000, help="deployed devices elsewhere")
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    rng = random.Random(16)
    codes = scan_codes(args.devices, args.scans, rng)
    batches = [codes[i : i + args.batch] for i in range(0, len(codes), args.batch)]
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    with bench_database() as url:
        ids = asyncio.run(_seed(url, args.devices, args.others))
        rows = asyncio.run(_in_process(ids, batches))
        rows.append(_over_http(url, ids, batches))
    print_table(
        f"{args.scans:,} scans in batches of {args.batch} at a store keeping {args.devices:,}"
        f" devices ({args.devices + 500 + args.others:,} in the register)",
        rows,
    )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
