"""The refresh forecast over 100,000 and 1,000,000 assets, next to the same
aggregate as one hand-written SQL query (the floor), median of 5 each.

    .venv/bin/python -m bench.forecast [--sizes 100000,1000000] [--repeat 5]

Figures: the service function (query + assembly + JSON encoding) in-process,
the same through HTTP on the real service, grouped by model and by business
unit, and the XLSX export through HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

import asyncpg
import httpx
import msgspec

from bench.common import STEADY_STATE, bench_database, make_token, peak_rss_mb, print_table, service

T = TypeVar("T")
BUSINESS_UNITS = 24
PEOPLE = 45_000
CHUNK = 100_000
FROM_YEAR = "2024/25"
YEARS = 5

# (manufacturer, model, category, lifecycle months, replacement cost, share of the fleet)
MODELS = [
    ("Samsung", "Galaxy A32", "smartphone", 36, Decimal("300.00"), 0.70),
    ("Samsung", "Galaxy S23", "smartphone", 36, Decimal("650.00"), 0.15),
    ("Panasonic", "Toughbook G2", "ivma_tablet", 48, Decimal("1500.00"), 0.08),
    ("Havis", "DS-PAN-1011", "vehicle_dock", 60, Decimal("400.00"), 0.05),
    ("Zebra", "ET40", "tablet", None, None, 0.02),  # no lifecycle: unpriced
]
# (status, share) — a few have left the estate
STATUSES = [
    ("deployed", 0.82),
    ("in_stock", 0.08),
    ("in_repair", 0.03),
    ("retired", 0.04),
    ("lost", 0.02),
    ("stolen", 0.01),
]

RAW_BY_MODEL = """
SELECT m.id, CASE WHEN a.refresh_due_on < $1 THEN -1
                  ELSE EXTRACT(YEAR FROM a.refresh_due_on - interval '3 months')::int END AS fy,
       count(*), sum(COALESCE(a.replacement_cost_override, m.replacement_cost))
FROM asset a JOIN device_model m ON m.id = a.model_id
WHERE a.status NOT IN ('disposed','lost','stolen','retired') AND a.refresh_due_on < $2
GROUP BY 1, 2
"""

RAW_BY_UNIT = """
SELECT p.business_unit_id,
       CASE WHEN a.refresh_due_on < $1 THEN -1
            ELSE EXTRACT(YEAR FROM a.refresh_due_on - interval '3 months')::int END AS fy,
       count(*), sum(COALESCE(a.replacement_cost_override, m.replacement_cost))
FROM asset a JOIN device_model m ON m.id = a.model_id
LEFT JOIN person p ON p.id = a.person_id
WHERE a.status NOT IN ('disposed','lost','stolen','retired') AND a.refresh_due_on < $2
GROUP BY 1, 2
"""


def _pick(choices: list[tuple[T, float]]) -> list[T]:
    values = [c[0] for c in choices]
    weights = [c[1] for c in choices]
    return random.choices(values, weights, k=CHUNK)


async def seed_reference(conn: asyncpg.Connection) -> tuple[list[int], list[int], list[int]]:
    """Business units, people, a supplier with contracts, and the models."""
    await conn.execute(
        "INSERT INTO business_unit (code, name) SELECT 'BCU' || g, 'Basic command unit ' || g"
        " FROM generate_series(1, $1) g",
        BUSINESS_UNITS,
    )
    await conn.execute(
        """INSERT INTO person (employee_number, display_name, business_unit_id, kind)
           SELECT 'E' || g, 'Person ' || g,
                  (SELECT min(id) FROM business_unit) + g % $2, 'officer'
           FROM generate_series(1, $1) g""",
        PEOPLE,
        BUSINESS_UNITS,
    )
    supplier = await conn.fetchval("INSERT INTO supplier (name) VALUES ('Vodafone') RETURNING id")
    contracts = [
        await conn.fetchval(
            "INSERT INTO contract (reference, supplier_id, kind, starts_on, ends_on)"
            " VALUES ($1, $2, 'handset_supply', $3, $4) RETURNING id",
            ref,
            supplier,
            dt.date(2021, 4, 1),
            dt.date(2027, 3, 31),
        )
        for ref in ("VF-HS-2021", "CDW-FW-2021", "BAB-INST-2021")
    ]
    models = [
        await conn.fetchval(
            "INSERT INTO device_model (manufacturer, model_name, category, lifecycle_months,"
            " replacement_cost) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            *m[:5],
        )
        for m in MODELS
    ]
    people = [r["id"] for r in await conn.fetch("SELECT id FROM person")]
    return models, contracts, people


async def load_assets(
    conn: asyncpg.Connection,
    start: int,
    n: int,
    models: list[int],
    contracts: list[int],
    people: list[int],
) -> None:
    """``n`` assets by COPY, in chunks (memory stays flat), with refresh_due_on
    set the way the register sets it."""
    lifecycles = {mid: m[3] for mid, m in zip(models, MODELS, strict=True)}
    makers = {mid: m[0].lower() for mid, m in zip(models, MODELS, strict=True)}
    model_share = [(mid, m[5]) for mid, m in zip(models, MODELS, strict=True)]
    day0 = dt.date(2021, 4, 1).toordinal()
    span = dt.date(2024, 12, 31).toordinal() - day0
    columns = [
        "model_id",
        "manufacturer",
        "serial_number",
        "status",
        "person_id",
        "contract_id",
        "delivered_on",
        "in_service_on",
        "refresh_due_on",
        "location_id",
    ]
    # Devices in stock, in repair or awaiting rebuild are kept at a location.
    store = await conn.fetchval("SELECT id FROM location WHERE code = 'STORES'")
    done = 0
    while done < n:
        size = min(CHUNK, n - done)
        picked_models = _pick(model_share)
        picked_status = _pick(STATUSES)
        records = []
        for i in range(size):
            mid = picked_models[i]
            status = picked_status[i]
            delivered = dt.date.fromordinal(day0 + random.randrange(span))
            in_service = delivered + dt.timedelta(days=random.randrange(3, 40))
            months = lifecycles[mid]
            due = None
            if months is not None:
                y, m = divmod(in_service.month - 1 + months, 12)
                due = dt.date(in_service.year + y, m + 1, min(in_service.day, 28))
            records.append(
                (
                    mid,
                    makers[mid],
                    f"SN{start + done + i:09d}",
                    status,
                    random.choice(people) if status == "deployed" else None,
                    contracts[(start + done + i) % len(contracts)],
                    delivered,
                    in_service,
                    due,
                    store if status in ("in_stock", "in_repair", "rebuild") else None,
                )
            )
        await conn.copy_records_to_table("asset", records=records, columns=columns)
        done += size
    await conn.execute(STEADY_STATE)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


async def in_process(url: str, repeat: int) -> dict[str, float]:
    """Raw SQL and the service function, interleaved round by round so that
    noise from other work on the machine falls on both alike."""
    from db.engine import close_pool, connection, open_pool
    from fleetsvc.finance.forecast import ForecastParams, forecast_params
    from fleetsvc.finance.refresh import refresh_forecast

    await open_pool(2)
    params = {g: forecast_params(FROM_YEAR, YEARS, g) for g in ("model", "business_unit")}
    start = params["model"].horizon_start
    after = params["model"].horizon_last_day + dt.timedelta(days=1)
    times: dict[str, list[float]] = {}
    try:
        async with connection() as conn:

            def raw(sql: str) -> Callable[[], Awaitable[object]]:
                return lambda: conn.fetch(sql, start, after)

            def forecast(p: ForecastParams) -> Callable[[], Awaitable[object]]:
                async def job() -> bytes:
                    return msgspec.json.encode(await refresh_forecast(conn, p))

                return job

            jobs = {
                "raw SQL by model": raw(RAW_BY_MODEL),
                "service function by model": forecast(params["model"]),
                "raw SQL by business unit": raw(RAW_BY_UNIT),
                "service function by business unit": forecast(params["business_unit"]),
            }
            for job in jobs.values():
                await job()  # warm: plans, pool, caches
            for _ in range(repeat):
                for label, job in jobs.items():
                    t = time.perf_counter()
                    await job()
                    times.setdefault(label, []).append((time.perf_counter() - t) * 1000)
    finally:
        await close_pool()
    return {label: statistics.median(ts) for label, ts in times.items()}


def over_http(url: str, repeat: int) -> dict[str, float]:
    token = make_token(url, "finance")
    out: dict[str, float] = {}
    with (
        service(url) as base,
        httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120
        ) as client,
    ):
        for label, params in (
            ("HTTP JSON by model", {"group_by": "model"}),
            ("HTTP JSON by business unit", {"group_by": "business_unit"}),
            ("HTTP XLSX by model", {"group_by": "model", "format": "xlsx"}),
        ):
            query = {"from": FROM_YEAR, "years": str(YEARS), **params}

            def call(query: dict[str, str] = query) -> None:
                r = client.get("/api/v1/forecasts/refresh", params=query)
                r.raise_for_status()

            call()
            out[label] = median_ms(call, repeat)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    random.seed(20261122)
    rows: list[dict[str, object]] = []
    with bench_database() as url:

        async def seed() -> tuple[list[int], list[int], list[int]]:
            conn = await asyncpg.connect(url)
            try:
                return await seed_reference(conn)
            finally:
                await conn.close()

        models, contracts, people = asyncio.run(seed())
        loaded = 0
        for size in sizes:

            async def grow(size: int = size, loaded: int = loaded) -> float:
                conn = await asyncpg.connect(url)
                try:
                    t = time.perf_counter()
                    await load_assets(conn, loaded, size - loaded, models, contracts, people)
                    return time.perf_counter() - t
                finally:
                    await conn.close()

            seconds = asyncio.run(grow())
            print(f"loaded {size - loaded:,} assets by COPY in {seconds:.1f} s", flush=True)
            loaded = size
            figures = asyncio.run(in_process(url, args.repeat))
            figures.update(over_http(url, args.repeat))
            floor = {
                "model": figures["raw SQL by model"],
                "business unit": figures["raw SQL by business unit"],
            }
            for what, ms in figures.items():
                dim = "business unit" if "business unit" in what else "model"
                rows.append(
                    {
                        "assets": f"{size:,}",
                        "what": what,
                        "median ms": ms,
                        "× raw SQL": "" if what.startswith("raw") else f"{ms / floor[dim]:.2f}x",
                    }
                )
    print_table(
        f"refresh forecast {FROM_YEAR} + {YEARS} years, median of {args.repeat}"
        f" (peak RSS of this process {peak_rss_mb():.0f} MB)",
        rows,
    )


if __name__ == "__main__":
    main()
