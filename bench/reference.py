"""Reference records under load: reads of a device model, a contract (with its committed
value and delivered counts derived from the assets) and a purchase order, next to the
business-unit read as the baseline measured in the same run; then one lifecycle change
that recomputes the refresh date of every asset of a model (set-based, with its events);
then the demo's 45,000 people loaded through ``fleetsvc.people.create_people`` (every
check, one INSERT, one COPY of events) beside a bare COPY of the same rows with
set-based events (what the demo did before it loaded through the domain's checks).

    .venv/bin/python -m bench.reference [--seconds 5] [--connections 32] [--assets 40000]
        [--people 45000]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg
import httpx

from bench.common import (
    STEADY_STATE,
    LoadResult,
    bench_database,
    http_load,
    load_row,
    make_token,
    print_table,
    service,
)
from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.people import PersonCreate, create_people


async def _seed(url: str, n_assets: int) -> dict[str, list[int]]:
    """A handset contract with 20 purchase orders, each delivering its share of assets."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            bus = await conn.fetch(
                "INSERT INTO business_unit (code, name) SELECT 'BU' || g, 'Unit ' || g"
                " FROM generate_series(1, 100) g RETURNING id"
            )
            supplier = await conn.fetchval(
                "INSERT INTO supplier (name) VALUES ('Vodafone') RETURNING id"
            )
            contract = await conn.fetchval(
                "INSERT INTO contract (reference, supplier_id, kind, starts_on, ends_on,"
                " value_cap) VALUES ('VF-HS-1', $1, 'handset_supply', '2021-04-01',"
                " '2027-03-31', 20000000) RETURNING id",
                supplier,
            )
            models = await conn.fetch(
                "INSERT INTO device_model (manufacturer, model_name, category,"
                " lifecycle_months, replacement_cost) SELECT 'Samsung', 'Galaxy ' || g,"
                " 'smartphone', 36, 300 FROM generate_series(1, 50) g RETURNING id"
            )
            await conn.execute(
                "INSERT INTO model_part_number (model_id, part_number)"
                " SELECT id, 'SM-' || id FROM device_model"
            )
            handset = models[0]["id"]
            orders = await conn.fetch(
                "INSERT INTO purchase_order (number, contract_id, raised_on)"
                " SELECT 'PO' || g, $1, '2021-05-01' FROM generate_series(1, 20) g RETURNING id",
                contract,
            )
            await conn.execute(
                "INSERT INTO purchase_order_line (purchase_order_id, model_id, quantity,"
                " unit_cost) SELECT id, $1, $2, 289 FROM purchase_order WHERE contract_id = $3",
                handset,
                n_assets // 20,
                contract,
            )
            await conn.execute(
                "INSERT INTO asset (model_id, manufacturer, serial_number, purchase_order_id,"
                " contract_id, delivered_on, in_service_on, refresh_due_on, location_id)"
                " SELECT $1, 'samsung', 'R58' || g, (array_agg_po.ids)[1 + g % 20], $2,"
                " '2021-06-01', date '2021-07-01' + (g % 365),"
                " date '2024-07-01' + (g % 365), (SELECT id FROM location WHERE code = 'STORES')"
                " FROM generate_series(1, $3) g,"
                " (SELECT array_agg(id ORDER BY id) AS ids FROM purchase_order"
                "  WHERE contract_id = $2) array_agg_po",
                handset,
                contract,
                n_assets,
            )
        await conn.execute(STEADY_STATE)
    finally:
        await conn.close()
    return {
        "bu": [r["id"] for r in bus],
        "models": [r["id"] for r in models],
        "orders": [r["id"] for r in orders],
        "contract": [contract],
    }


async def _bulk_people(url: str, n: int) -> list[dict[str, object]]:
    """Seconds to load ``n`` people, checked through the domain and as a bare COPY."""
    actor = Actor("bench", "admin")
    conn = await asyncpg.connect(url)
    try:
        unit = await conn.fetchval("SELECT min(id) FROM business_unit")
        rows = [
            (f"B{k:07d}", f"bench.user{k:07d}@police.example", f"Bench User {k:07d}", unit)
            for k in range(2 * n)
        ]
        started = time.perf_counter()
        async with conn.transaction():
            start = await conn.fetchval("SELECT COALESCE(max(id), 0) FROM person")
            await conn.copy_records_to_table(
                "person",
                records=[(*r, "officer", True) for r in rows[:n]],
                columns=[
                    "employee_number",
                    "upn",
                    "display_name",
                    "business_unit_id",
                    "kind",
                    "active",
                ],
            )
            await audit.record_from_query(
                conn,
                actor,
                "SELECT 'person'::text AS entity, t.id::bigint AS entity_id,"
                " 'created'::text AS action, NULL::jsonb AS before,"
                " jsonb_build_object('employee_number', t.employee_number) AS after"
                " FROM person t WHERE t.id > $1",
                start,
            )
        copied = time.perf_counter() - started
        items = [
            PersonCreate(employee_number=e, upn=u, display_name=d, business_unit_id=b)
            for e, u, d, b in rows[n:]
        ]
        started = time.perf_counter()
        async with conn.transaction():
            await create_people(conn, actor, items)
        checked = time.perf_counter() - started
    finally:
        await conn.close()
    return [
        {"what": f"COPY {n:,} people + events (baseline)", "seconds": copied},
        {"what": f"create_people: {n:,} checked, one INSERT + COPY", "seconds": checked},
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--assets", type=int, default=40_000)
    ap.add_argument("--people", type=int, default=45_000)
    args = ap.parse_args()
    with bench_database() as url:
        ids = asyncio.run(_seed(url, args.assets))
        reader = {"Authorization": f"Bearer {make_token(url, 'auditor')}"}
        writer = {"Authorization": f"Bearer {make_token(url, 'engineer')}"}
        with service(url) as base:

            def load(paths: list[str]) -> LoadResult:
                return http_load(
                    paths, base, reader, seconds=args.seconds, connections=args.connections
                )

            baseline = load([f"/api/v1/business-units/{i}" for i in ids["bu"]])
            rows = [
                load_row("GET one business unit (baseline)", baseline, baseline),
                load_row(
                    "GET one device model (+ part numbers)",
                    load([f"/api/v1/models/{i}" for i in ids["models"]]),
                    baseline,
                ),
                load_row(
                    f"GET one contract (committed over {args.assets:,} assets)",
                    load([f"/api/v1/contracts/{ids['contract'][0]}"]),
                    baseline,
                ),
                load_row(
                    f"GET one purchase order ({args.assets // 20:,} delivered)",
                    load([f"/api/v1/purchase-orders/{i}" for i in ids["orders"]]),
                    baseline,
                ),
            ]
            print_table(
                f"{args.connections} connections, {args.seconds} s each; ceiling = the baseline",
                rows,
            )

            with httpx.Client(base_url=base, headers=writer, timeout=120) as client:
                started = time.perf_counter()
                r = client.patch(
                    f"/api/v1/models/{ids['models'][0]}", json={"lifecycle_months": 48}
                )
                elapsed = time.perf_counter() - started
                r.raise_for_status()
                started = time.perf_counter()
                client.patch(
                    f"/api/v1/models/{ids['models'][1]}", json={"lifecycle_months": 48}
                ).raise_for_status()
                empty = time.perf_counter() - started
            print_table(
                "one lifecycle change",
                [
                    {"what": "model with no assets (baseline)", "seconds": empty},
                    {
                        "what": f"model with {args.assets:,} assets (dates + events)",
                        "seconds": elapsed,
                    },
                ],
            )
        print_table("bulk load of people", asyncio.run(_bulk_people(url, args.people)))


if __name__ == "__main__":
    main()
