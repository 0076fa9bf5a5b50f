"""Delivery import bench: a 29,737-row and a 300,000-row vodafone-despatch file, previewed
and committed through the service function (each size in its own process, so peak memory is
its own), once through the HTTP endpoint, against raw COPY of the same rows as the baseline.

    .venv/bin/python -m bench.imports [--sizes 29737,300000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from bench.common import bench_database, make_token, peak_rss_mb, print_table, service
from importers.fields import luhn_check_digit

HEADER = (
    "Despatch Date,Vodafone Order No,Customer PO,Delivery Note,Product Code,"
    "Product Description,IMEI,Serial Number,SIM ICCID,MSISDN,Quantity\n"
)
PO_NUMBER = "4500071322"
PART = "SM-A325FZKGEUB"


def write_file(path: Path, rows: int, offset: int) -> None:
    """A despatch file of valid, distinct handsets (IMEI, serial, ICCID and number)."""
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(HEADER)
        for i in range(offset, offset + rows):
            imei = f"35{i + 10**11:012d}"
            imei += luhn_check_digit(imei)
            iccid = f"8944{i:014d}"
            iccid += luhn_check_digit(iccid)
            f.write(
                f"14/11/2022,VF-ORD-880000,{PO_NUMBER},DN700000,{PART},"
                f"Samsung Galaxy A32 4G 128GB Awesome Black,{imei},R58R{i:08d},"
                f"{iccid},07955 {i % 1_000_000:06d},1\n"
            )


async def seed(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        supplier = await conn.fetchval(
            "INSERT INTO supplier (name) VALUES ('Vodafone') RETURNING id"
        )
        contract = await conn.fetchval(
            "INSERT INTO contract (reference, supplier_id, kind, starts_on)"
            " VALUES ('VF-HANDSETS', $1, 'handset_supply', '2021-04-01') RETURNING id",
            supplier,
        )
        await conn.execute(
            "INSERT INTO contract (reference, supplier_id, kind, starts_on)"
            " VALUES ('VF-AIRTIME', $1, 'airtime', '2021-04-01')",
            supplier,
        )
        model = await conn.fetchval(
            "INSERT INTO device_model (manufacturer, model_name, category, lifecycle_months,"
            " replacement_cost) VALUES ('Samsung', 'Galaxy A32', 'smartphone', 36, 300)"
            " RETURNING id"
        )
        await conn.execute(
            "INSERT INTO model_part_number (model_id, part_number) VALUES ($1, $2)", model, PART
        )
        po = await conn.fetchval(
            "INSERT INTO purchase_order (number, contract_id, raised_on)"
            " VALUES ($1, $2, '2022-10-01') RETURNING id",
            PO_NUMBER,
            contract,
        )
        await conn.execute(
            "INSERT INTO purchase_order_line (purchase_order_id, model_id, quantity, unit_cost)"
            " VALUES ($1, $2, 1000000, 289)",
            po,
            model,
        )
    finally:
        await conn.close()


async def raw_copy(url: str, path: Path) -> float:
    """The baseline: read the CSV and COPY its rows as text into a bare table."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_raw (a text, b text, c text, d text, e text,"
            " f text, g text, h text, i text, j text, k text)"
        )
        started = time.perf_counter()
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            next(reader)
            batch: list[tuple[str, ...]] = []
            for row in reader:
                batch.append(tuple(row))
                if len(batch) == 5000:
                    await conn.copy_records_to_table("bench_raw", records=batch)
                    batch = []
            if batch:
                await conn.copy_records_to_table("bench_raw", records=batch)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def write_cost(import_id: int) -> dict[str, float]:
    """What writing a previewed import's rows costs by itself: the one INSERT of handsets,
    SIMs and fittings plus their events, timed in a transaction that is rolled back; then the
    same with triggers off (superuser only, rolled back too) to show what the database's
    per-row foreign-key checks cost of it. Nothing is committed."""
    from db.engine import connection
    from fleetsvc import audit
    from fleetsvc.auth import Actor
    from fleetsvc.imports import apply_deliveries, plan, plan_deliveries
    from fleetsvc.imports.evaluate import WORK_MEM

    out: dict[str, float] = {}
    async with connection() as conn:
        for label, triggers in (("write_s", True), ("write_no_fk_s", False)):
            tx = conn.transaction()
            await tx.start()
            try:
                await conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
                await plan.build(conn, import_id, plan_deliveries.PLAN)
                if not triggers:
                    try:
                        await conn.execute("SET LOCAL session_replication_role = replica")
                    except asyncpg.InsufficientPrivilegeError:
                        out[label] = float("nan")
                        continue
                await conn.execute("SET LOCAL enable_nestloop = off")
                started = time.perf_counter()
                await conn.fetchrow(apply_deliveries.INSERT_DELIVERY, import_id)
                await audit.record_from_query(
                    conn, Actor("bench", "admin"), apply_deliveries.DELIVERY_EVENTS, import_id
                )
                out[label] = time.perf_counter() - started
            finally:
                await tx.rollback()
    return out


async def worker(url: str, path: Path) -> dict[str, float]:
    """One size, in its own process: preview, commit of the preview, and a direct commit."""
    os.environ["DATABASE_URL"] = url
    from db.engine import close_pool, open_pool
    from fleetsvc.auth import Actor
    from fleetsvc.imports import run

    actor = Actor("bench", "admin")
    await open_pool(4)
    try:
        baseline = await raw_copy(url, path)
        started = time.perf_counter()
        preview = await run.run_import(
            actor, path=path, file_name=path.name, profile_name="vodafone-despatch"
        )
        preview_s = time.perf_counter() - started
        assert preview.counts["new"] > 0, preview.counts
        writes = await write_cost(preview.id)
        started = time.perf_counter()
        committed = await run.commit_import(actor, preview.id, allow_partial=False)
        commit_previewed_s = time.perf_counter() - started
        assert committed.status == "committed", committed.counts
        # The same content committed again in one go: parse, stage, classify (all unchanged).
        started = time.perf_counter()
        again = await run.run_import(
            actor, path=path, file_name=path.name, profile_name="vodafone-despatch", mode="commit"
        )
        recommit_s = time.perf_counter() - started
        assert again.counts["unchanged"] == committed.counts["new"], again.counts
    finally:
        await close_pool()
    return {
        "raw_copy_s": baseline,
        "preview_s": preview_s,
        "commit_previewed_s": commit_previewed_s,
        "recommit_s": recommit_s,
        **writes,
        "peak_rss_mb": peak_rss_mb(),
    }


async def direct_commit(url: str, path: Path) -> dict[str, float]:
    """Upload-and-commit in one call (parse, validate, write, events) of fresh handsets."""
    os.environ["DATABASE_URL"] = url
    from db.engine import close_pool, open_pool
    from fleetsvc.auth import Actor
    from fleetsvc.imports import run

    await open_pool(4)
    try:
        started = time.perf_counter()
        item = await run.run_import(
            Actor("bench", "admin"),
            path=path,
            file_name=path.name,
            profile_name="vodafone-despatch",
            mode="commit",
        )
        elapsed = time.perf_counter() - started
        assert item.status == "committed", item.counts
    finally:
        await close_pool()
    return {"commit_s": elapsed, "peak_rss_mb": peak_rss_mb()}


def _in_subprocess(kind: str, url: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.imports", "--worker", kind, url, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
        env={**os.environ, "FLEETSVC_LOG_LEVEL": "warning"},
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="29737,300000")
    ap.add_argument("--worker", nargs=3, metavar=("KIND", "URL", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, url, file = args.worker
        job = worker if kind == "preview" else direct_commit
        print(json.dumps(asyncio.run(job(url, Path(file)))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    floors: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="fleetsvc-bench-") as tmp, bench_database() as url:
        asyncio.run(seed(url))
        # Through HTTP first, while the register is as small as for the first size.
        http_file = Path(tmp) / "despatch-http.csv"
        write_file(http_file, sizes[0], 0)
        offset = sizes[0]
        token = make_token(url, "stores")
        with service(url) as base:
            started = time.perf_counter()
            with http_file.open("rb") as f:
                r = httpx.post(
                    f"{base}/api/v1/imports",
                    headers={"Authorization": f"Bearer {token}"},
                    files={"file": (http_file.name, f, "text/csv")},
                    data={"profile": "vodafone-despatch", "mode": "commit"},
                    timeout=300,
                )
            http_s = time.perf_counter() - started
        assert r.status_code == 201 and r.json()["status"] == "committed", r.text[:500]
        for size in sizes:
            first, second = (
                Path(tmp) / f"despatch-{size}-a.csv",
                Path(tmp) / f"despatch-{size}-b.csv",
            )
            write_file(first, size, offset)
            write_file(second, size, offset + size)
            offset += 2 * size
            a = _in_subprocess("preview", url, first)
            b = _in_subprocess("commit", url, second)
            rows.append(
                {
                    "rows": f"{size:,}",
                    "MiB": f"{first.stat().st_size / 2**20:.1f}",
                    "raw COPY s": a["raw_copy_s"],
                    "preview s": a["preview_s"],
                    "commit (previewed) s": a["commit_previewed_s"],
                    "upload+commit s": b["commit_s"],
                    "× raw COPY": f"{b['commit_s'] / a['raw_copy_s']:.1f}",
                    "rows/s": f"{size / b['commit_s']:,.0f}",
                    "re-commit s": a["recommit_s"],
                    "peak RSS MiB": max(a["peak_rss_mb"], b["peak_rss_mb"]),
                }
            )
            floors.append(
                {
                    "rows": f"{size:,}",
                    "INSERT+events s": a["write_s"],
                    "same, FK checks off s": a["write_no_fk_s"],
                    "FK checks s": a["write_s"] - a["write_no_fk_s"],
                    "upload+commit s": b["commit_s"],
                }
            )
    print_table("vodafone-despatch imports (service function, one process per size)", rows)
    print_table(
        "of which writing the rows: the apply's INSERT of handsets, SIMs, fittings and their"
        " events alone (rolled back), with and without the per-row foreign-key checks",
        floors,
    )
    print_table(
        "through HTTP (POST /api/v1/imports, mode=commit, fleetsvc serve on 127.0.0.1)",
        [{"rows": f"{sizes[0]:,}", "upload+commit s": http_s, "new": r.json()["counts"]["new"]}],
    )


if __name__ == "__main__":
    main()
