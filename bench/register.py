"""The register's read paths at fleet scale: 100,000 assets (with SIMs, holders
and vehicle installs) loaded through the bulk path, then for a fixed time each:
GET one asset by id, a lookup by IMEI, a filtered list page of 100, against the
bare Litestar + asyncpg ceiling serving the same row, measured in the same run.
It prints the machine's load average before and after: other work on the
machine moves every figure, the ceiling's included.

    .venv/bin/python -m bench.register [--assets 100000] [--seconds 10] [--connections 32]
                                       [--pool-size 10]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import re
import time

import asyncpg

from bench.common import (
    STEADY_STATE,
    bare_service,
    bench_database,
    http_load,
    load_row,
    make_token,
    print_table,
    service,
)
from importers.fields import luhn_check_digit


def _imei(n: int) -> str:
    body = f"35{n:012d}"
    return body + luhn_check_digit(body)


def _iccid(n: int) -> str:
    body = f"894410{n:012d}"
    return body + luhn_check_digit(body)


async def seed(url: str, n_assets: int) -> dict[str, object]:
    """COPY into staging tables, then set-based INSERT ... SELECT into the register."""
    rng = random.Random(7)
    conn = await asyncpg.connect(url)
    started = time.perf_counter()
    try:
        async with conn.transaction():
            supplier = await conn.fetchval(
                "INSERT INTO supplier (name) VALUES ('Vodafone') RETURNING id"
            )
            handset, airtime = [
                await conn.fetchval(
                    "INSERT INTO contract (reference, supplier_id, kind, starts_on, ends_on)"
                    " VALUES ($1, $2, $3, '2021-04-01', '2027-03-31') RETURNING id",
                    ref,
                    supplier,
                    kind,
                )
                for ref, kind in (("VF-HS-1", "handset_supply"), ("VF-AT-1", "airtime"))
            ]
            await conn.execute(
                "INSERT INTO business_unit (code, name)"
                " SELECT 'BCU' || g, 'Unit ' || g FROM generate_series(1, 20) g"
            )
            bu_ids = [r["id"] for r in await conn.fetch("SELECT id FROM business_unit")]
            models = {}
            for name, category, months in (
                ("Galaxy A32", "smartphone", 36),
                ("Toughbook A3", "ivma_tablet", 60),
                ("Havis dock", "vehicle_dock", 84),
            ):
                models[category] = await conn.fetchval(
                    "INSERT INTO device_model (manufacturer, model_name, category,"
                    " lifecycle_months) VALUES ('Samsung', $1, $2, $3) RETURNING id",
                    name,
                    category,
                    months,
                )

            n_people = max(1000, n_assets // 2)
            await conn.copy_records_to_table(
                "person",
                records=[
                    (f"E{i:07d}", f"p{i}@force.example", f"Person {i}", rng.choice(bu_ids))
                    for i in range(n_people)
                ],
                columns=["employee_number", "upn", "display_name", "business_unit_id"],
            )
            person_ids = [r["id"] for r in await conn.fetch("SELECT id FROM person ORDER BY id")]
            n_vehicles = max(100, n_assets // 40)
            await conn.copy_records_to_table(
                "vehicle",
                records=[
                    (f"F{i:06d}", f"BX{i:06d}", rng.choice(bu_ids)) for i in range(n_vehicles)
                ],
                columns=["fleet_number", "vrm", "business_unit_id"],
            )

            # Assets: handsets (most issued, each with a SIM), tablets and docks.
            await conn.execute(
                "CREATE TEMP TABLE asset_in (serial text, imei text, category text, status text,"
                " person_id int, delivered_on date, in_service_on date, msisdn text)"
                " ON COMMIT DROP"
            )
            n_kit = n_vehicles
            n_phones = n_assets - 2 * n_kit
            records: list[tuple[object, ...]] = []
            for i in range(n_phones):
                issued = i < int(n_phones * 0.85)
                delivered = dt.date(2021, 4, 1) + dt.timedelta(days=i % 700)
                records.append(
                    (
                        f"R58N{i:08d}",
                        _imei(i),
                        "smartphone",
                        "deployed" if issued else "in_stock",
                        person_ids[i % len(person_ids)] if issued else None,
                        delivered,
                        delivered + dt.timedelta(days=10) if issued else None,
                        f"+4477{i:08d}" if issued else None,
                    )
                )
            for i in range(n_kit):
                for category in ("ivma_tablet", "vehicle_dock"):
                    records.append(
                        (
                            f"{category[:3].upper()}{i:08d}",
                            None,
                            category,
                            "deployed",
                            None,
                            dt.date(2021, 6, 1),
                            dt.date(2021, 7, 1),
                            None,
                        )
                    )
            await conn.copy_records_to_table(
                "asset_in",
                records=records,
                columns=[
                    "serial",
                    "imei",
                    "category",
                    "status",
                    "person_id",
                    "delivered_on",
                    "in_service_on",
                    "msisdn",
                ],
            )
            await conn.execute(
                "INSERT INTO asset (model_id, manufacturer, serial_number, imei, status,"
                " person_id, contract_id, delivered_on, in_service_on, refresh_due_on,"
                " location_id)"
                " SELECT m.id, lower(m.manufacturer), s.serial, s.imei, s.status, s.person_id,"
                " $1, s.delivered_on, s.in_service_on,"
                " refresh_due(s.in_service_on, s.delivered_on, m.lifecycle_months, NULL),"
                " CASE WHEN s.status IN ('in_stock', 'in_repair', 'rebuild')"
                " THEN (SELECT id FROM location WHERE code = 'STORES') END"
                " FROM asset_in s JOIN device_model m ON m.category = s.category",
                handset,
            )
            await conn.execute(
                "INSERT INTO assignment (asset_id, person_id, started_at)"
                " SELECT id, person_id, in_service_on FROM asset WHERE person_id IS NOT NULL"
            )
            # Each SIM fitted in its handset (the open fitting is on the SIM's row).
            await conn.execute(
                "INSERT INTO sim (iccid, msisdn, contract_id, asset_id, fitting_id, fitted_at)"
                " SELECT '894410' || lpad(a.id::text, 12, '0') || '0', s.msisdn, $1, a.id,"
                " nextval('sim_fitting_id_seq'), now()"
                " FROM asset_in s JOIN asset a ON a.serial_number = s.serial"
                " WHERE s.msisdn IS NOT NULL",
                airtime,
            )
            await conn.execute(
                "INSERT INTO install (job_reference, vehicle_id, tablet_id, dock_id, installed_on)"
                " SELECT 'JOB' || v.n, v.id, t.id, d.id, '2021-07-01'"
                " FROM (SELECT id, row_number() OVER (ORDER BY id) n FROM vehicle) v"
                " JOIN (SELECT a.id, row_number() OVER (ORDER BY a.id) n FROM asset a"
                "       JOIN device_model m ON m.id = a.model_id"
                "       WHERE m.category = 'ivma_tablet') t ON t.n = v.n"
                " JOIN (SELECT a.id, row_number() OVER (ORDER BY a.id) n FROM asset a"
                "       JOIN device_model m ON m.id = a.model_id"
                "       WHERE m.category = 'vehicle_dock') d ON d.n = v.n"
            )
        await conn.execute(STEADY_STATE)
        load_seconds = time.perf_counter() - started
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM asset")]
        imeis = [
            r["imei"]
            for r in await conn.fetch("SELECT imei FROM asset WHERE imei IS NOT NULL LIMIT 20000")
        ]
        plans = await _plans(conn, imeis[0])
    finally:
        await conn.close()
    return {
        "ids": ids,
        "imeis": imeis,
        "load_seconds": load_seconds,
        "rows": len(records),
        "plans": plans,
    }


async def _plans(conn: asyncpg.Connection, imei: str) -> dict[str, tuple[list[str], str]]:
    """The read paths' own queries at this scale: tables read in full, and timings."""
    from fleetsvc.assets.document import DOCUMENT_SELECT
    from fleetsvc.assets.lookup import DOCUMENTS_BY_ID, PAGE_IDS_SELECT

    page_ids = f"{PAGE_IDS_SELECT} WHERE a.status = $1 ORDER BY a.id LIMIT 101"
    first_page = [r["id"] for r in await conn.fetch(page_ids, "deployed")]
    queries: list[tuple[str, str, object]] = [
        ("one asset", f"{DOCUMENT_SELECT} WHERE a.id = $1", first_page[0]),
        ("imei", f"{DOCUMENT_SELECT} WHERE a.imei = $1 ORDER BY a.id LIMIT 101", imei),
        (
            "msisdn",
            f"{DOCUMENT_SELECT} WHERE a.id = (SELECT asset_id FROM sim WHERE msisdn = $1)"
            " ORDER BY a.id LIMIT 101",
            "+447700000001",
        ),
        ("status page ids", page_ids, "deployed"),
        ("rare status page ids", page_ids, "disposed"),
        ("status page documents", DOCUMENTS_BY_ID, first_page),
    ]
    plans = {}
    for label, sql, arg in queries:
        plan = await conn.fetch(f"EXPLAIN (ANALYZE, FORMAT TEXT) {sql}", arg)
        text = "\n".join(r[0] for r in plan)
        scanned = sorted(set(re.findall(r"Seq Scan on (\w+)", text)))
        timings = [
            line.strip()
            for line in text.splitlines()
            if line.startswith(("Planning Time", "Execution Time"))
        ]
        plans[label] = (scanned, "; ".join(timings))
    return plans


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--assets", type=int, default=100_000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument(
        "--pool-size",
        type=int,
        default=10,
        help="FLEETSVC_DB_POOL_SIZE for the service (default 10: on 2 cores a larger pool"
        " measured a worse single-read p99, more backends contending for the CPU)",
    )
    args = ap.parse_args()
    print(f"load average at start: {_load_average()} ({os.cpu_count()} CPUs)")
    with bench_database() as url:
        seeded = asyncio.run(seed(url, args.assets))
        ids: list[int] = seeded["ids"]  # type: ignore[assignment]
        imeis: list[str] = seeded["imeis"]  # type: ignore[assignment]
        print(
            f"loaded {seeded['rows']:,} assets (with SIMs, people, installs) in"
            f" {seeded['load_seconds']:.1f} s through COPY + INSERT ... SELECT"
        )
        for label, (scanned, timing) in seeded["plans"].items():  # type: ignore[attr-defined]
            where = ", ".join(scanned) or "none"
            print(f"  plan {label}: sequential scans: {where}; {timing}")
        sample = random.Random(1).sample(ids, min(20_000, len(ids)))
        token = make_token(url, "engineer")
        auth = {"Authorization": f"Bearer {token}"}
        load = {"seconds": args.seconds, "connections": args.connections}
        with bare_service(url) as bare:
            ceiling = http_load([f"/assets/{i}" for i in sample], bare, **load)
        os.environ["FLEETSVC_DB_POOL_SIZE"] = str(args.pool_size)
        with service(url) as base:
            one = http_load([f"/api/v1/assets/{i}" for i in sample], base, auth, **load)
            by_imei = http_load([f"/api/v1/assets?imei={i}" for i in imeis], base, auth, **load)
            page = http_load(
                "/api/v1/assets?status=deployed&limit=100",
                base,
                auth,
                **load,
            )
        print_table(
            f"{len(ids):,} assets; {args.connections} connections, {args.seconds} s each,"
            f" pool {args.pool_size}, load by {one.tool}",
            [
                load_row("bare: GET one asset row (asyncpg)", ceiling),
                load_row("fleetsvc: GET /assets/{id} (joined)", one, ceiling),
                load_row("fleetsvc: GET /assets?imei=", by_imei, ceiling),
                load_row("fleetsvc: GET /assets?status=deployed&limit=100", page, ceiling),
            ],
        )
        print(
            f"\nlist page vs single read: {one.rps / page.rps:.1f}x fewer req/s,"
            f" p50 {page.p50_ms / one.p50_ms:.1f}x, p99 {page.p99_ms / one.p99_ms:.1f}x"
            " (aim: within 3x)"
        )
        print(
            f"single read p99 {one.p99_ms:.1f} ms, by IMEI {by_imei.p99_ms:.1f} ms"
            f" (aim: under 25 ms; the bare ceiling's own p99 in this run: {ceiling.p99_ms:.1f} ms)"
        )
        print(f"load average at end: {_load_average()}")


if __name__ == "__main__":
    main()
