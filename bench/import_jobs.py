"""Imports committed as jobs, through the real service (``fleetsvc serve``):

- a ``--rows``-row (default 300,000) vodafone-despatch upload with ``Prefer: respond-async``:
  seconds to its 202 (the aim: within 1 s), next to a 1-row upload's 202 in the same run
  (the fixed cost), and how long the job then took to commit it (what the request would
  have been held for before);
- GET /api/v1/assets/{id} at 32 connections for ``--reads-seconds``: alone (the baseline),
  then while another such import job runs, same run.

    .venv/bin/python -m bench.import_jobs [--rows 300000] [--reads-seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import bench_database, http_load, load_row, make_token, print_table, service
from bench.imports import _asset_ids, seed, steady, write_file

AIM_202_S = 1.0
ASYNC = {"Prefer": "respond-async"}


def _upload(base: str, token: str, path: Path, headers: dict[str, str]) -> tuple[float, Any]:
    started = time.perf_counter()
    with path.open("rb") as f:
        r = httpx.post(
            f"{base}/api/v1/imports",
            headers={"Authorization": f"Bearer {token}", **headers},
            files={"file": (path.name, f, "text/csv")},
            data={"profile": "vodafone-despatch", "mode": "commit"},
            timeout=600,
        )
    elapsed = time.perf_counter() - started
    assert r.status_code in (201, 202), r.text[:500]
    return elapsed, r


def _until_done(base: str, token: str, import_id: int) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
        while True:
            item: dict[str, Any] = client.get(f"/api/v1/imports/{import_id}").json()
            if item["status"] != "running" and item["phase"] is None:
                return time.perf_counter() - started, item
            time.sleep(0.2)


def _phase(base: str, token: str, import_id: int) -> str:
    r = httpx.get(
        f"{base}/api/v1/imports/{import_id}", headers={"Authorization": f"Bearer {token}"}
    )
    item = r.json()
    return f"{item['status']}/{item['phase']} ({item['counts'].get('rows', 0):,} rows)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--reads-seconds", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleetsvc-bench-") as tmp, bench_database() as url:
        asyncio.run(seed(url))
        tiny, big, during = Path(tmp) / "tiny.csv", Path(tmp) / "big.csv", Path(tmp) / "b2.csv"
        write_file(tiny, 1, 0)
        write_file(big, args.rows, 1_000)
        write_file(during, args.rows, 2_000_000)
        token = make_token(url, "stores")
        size_mb = big.stat().st_size / 1e6
        with service(url) as base:
            tiny_s, _ = _upload(base, token, tiny, ASYNC)
            big_s, r = _upload(base, token, big, ASYNC)
            assert r.status_code == 202, r.text[:300]
            job_s, done = _until_done(base, token, r.json()["id"])
            assert done["status"] == "committed", done
            asyncio.run(steady(url))
            ids = asyncio.run(_asset_ids(url))
            paths = [f"/api/v1/assets/{i}" for i in ids]
            headers = {"Authorization": f"Bearer {token}"}
            alone = http_load(paths, base, headers, seconds=args.reads_seconds)
            _, r2 = _upload(base, token, during, ASYNC)
            second = r2.json()["id"]
            time.sleep(0.5)
            before = _phase(base, token, second)
            loaded = http_load(paths, base, headers, seconds=args.reads_seconds)
            after = _phase(base, token, second)
            _until_done(base, token, second)
    print_table(
        f"Upload with Prefer: respond-async ({args.rows:,} rows, {size_mb:.0f} MB)",
        [
            {"what": "1-row upload → 202 (baseline)", "s": tiny_s},
            {
                "what": f"{args.rows:,}-row upload → 202",
                "s": big_s,
                "aim": f"≤ {AIM_202_S} s: {'met' if big_s <= AIM_202_S else 'NOT met'}",
            },
            {"what": "then its job, 202 → committed", "s": job_s},
        ],
    )
    print_table(
        "GET /api/v1/assets/{id}, 32 connections",
        [
            load_row("alone (baseline)", alone),
            load_row("while an import job runs", loaded),
        ],
    )
    print(f"the import job during the reads: from {before} to {after}")
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
