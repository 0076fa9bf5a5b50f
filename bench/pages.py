"""The devices pages against the API's JSON for the same data, in the same run: the device
list page (100 rows) against ``GET /api/v1/assets?limit=100``, and a device's page (its
facts, timeline and moves) against ``GET /api/v1/assets/{id}``, each for a fixed time at
32 connections on 127.0.0.1. The register is ``bench.register``'s (assets with SIMs,
holders and installs); the devices read have a short history of moves made through the API.

Each connection is its own signed-in user (a session each, as 32 stores staff would be):
the pages' guard touches its session on every request, and 32 requests on one session
would queue on its row. The load generator is Python (httpx), one client per connection,
the same for the pages and the JSON; it shares the machine's cores with the service, so
the ratio says more than the absolute figures.

    .venv/bin/python -m bench.pages [--assets 20000] [--seconds 8] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import time
import uuid

import asyncpg
import httpx

from bench.common import (
    BIN,
    LoadResult,
    bench_database,
    load_row,
    make_token,
    print_table,
    service,
)
from bench.register import seed

PASSWORD = "correct horse battery staple"  # noqa: S105 - a throw-away bench user
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
MOVED = 200  # devices given a history of moves, the ones the device page is timed on


def _make_user(url: str, role: str) -> str:
    email = f"bench.{uuid.uuid4().hex[:8]}@force.example"
    subprocess.run(
        [
            str(BIN / "fleetsvc"),
            "users",
            "create",
            "--email",
            email,
            "--role",
            role,
            "--password-stdin",
        ],
        input=PASSWORD,
        env={**os.environ, "DATABASE_URL": url, "FLEETSVC_LOG_LEVEL": "warning"},
        check=True,
        capture_output=True,
        text=True,
    )
    return email


def _sign_in(base: str, email: str) -> str:
    """A session of its own: the cookie header a signed-in browser would send."""
    with httpx.Client(base_url=base) as client:
        form = client.get("/sign-in").text
        token = _CSRF.search(form)
        assert token, "no form token on the sign-in page"
        r = client.post(
            "/sign-in",
            data={"csrf_token": token.group(1), "email": email, "password": PASSWORD, "next": "/"},
        )
        assert r.status_code == 303, r.text[:300]
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


async def _in_stock(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return [r["id"] for r in await conn.fetch("SELECT id FROM asset WHERE status = 'in_stock'")]
    finally:
        await conn.close()


def _give_history(base: str, token: str, ids: list[int]) -> None:
    """Two moves each (to repair and back), through the API: a timeline to show."""
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base + "/api/v1", headers=auth, timeout=60) as api:
        for asset_id in ids:
            for to in ("in_repair", "in_stock"):
                etag = api.get(f"/assets/{asset_id}").raise_for_status().headers["etag"]
                api.post(
                    f"/assets/{asset_id}/transitions",
                    json={"to": to, "reason": f"bench: {to}"},
                    headers={"If-Match": etag},
                ).raise_for_status()


async def _load(
    paths: list[str], base: str, headers: list[dict[str, str]], seconds: int
) -> LoadResult:
    """GET ``paths`` at random for ``seconds``, one client (one connection) per header set."""
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    rng = random.Random(3)

    async def worker(h: dict[str, str]) -> None:
        nonlocal errors
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base, headers=h, limits=limits) as client:
            while time.monotonic() < stop:
                t = time.perf_counter()
                r = await client.get(rng.choice(paths))
                latencies.append((time.perf_counter() - t) * 1000)
                if r.status_code != 200:
                    errors += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(h) for h in headers))
    elapsed = time.monotonic() - started
    q = statistics.quantiles(latencies, n=100)
    return LoadResult(len(latencies) / elapsed, q[49], q[98], errors, "python, a client each")


def _ratio(page: LoadResult, json: LoadResult) -> str:
    return (
        f"{json.rps / page.rps:.2f}x the time per request (req/s {json.rps:,.0f} → "
        f"{page.rps:,.0f}), p50 {page.p50_ms / json.p50_ms:.2f}x, "
        f"p99 {page.p99_ms / json.p99_ms:.2f}x"
    )


def _check(base: str, cookie: str, auth: dict[str, str], asset_id: int) -> None:
    """The pages show what the JSON holds: a hundred rows, the device and its moves."""
    with httpx.Client(base_url=base, headers={"Cookie": cookie}) as client:
        listed = client.get("/devices").text
        assert len(re.findall(r'<a href="/devices/\d+">', listed)) == 100
        device = client.get(f"/devices/{asset_id}").text
        assert "bench: in_repair" in device and "Move this device" in device
    body = httpx.get(f"{base}/api/v1/assets?limit=100", headers=auth).json()
    assert len(body["items"]) == 100


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--assets", type=int, default=20_000)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with bench_database() as url:
        seeded = asyncio.run(seed(url, args.assets))
        ids: list[int] = seeded["ids"]  # type: ignore[assignment]
        moved = random.Random(1).sample(asyncio.run(_in_stock(url)), MOVED)
        token = make_token(url, "engineer")
        auth = {"Authorization": f"Bearer {token}"}
        email = _make_user(url, "stores")
        with service(url) as base:
            _give_history(base, token, moved)
            cookies = [{"Cookie": _sign_in(base, email)} for _ in range(args.connections)]
            _check(base, cookies[0]["Cookie"], auth, moved[0])
            tokens = [auth] * args.connections
            run = {"base": base, "seconds": args.seconds}
            list_json = asyncio.run(_load(["/api/v1/assets?limit=100"], headers=tokens, **run))
            list_page = asyncio.run(_load(["/devices"], headers=cookies, **run))
            one_json = asyncio.run(
                _load([f"/api/v1/assets/{i}" for i in moved], headers=tokens, **run)
            )
            one_page = asyncio.run(_load([f"/devices/{i}" for i in moved], headers=cookies, **run))
        print_table(
            f"{len(ids):,} assets; {args.connections} connections, {args.seconds} s each,"
            f" signed in as stores (the page shows the moves); load by {list_json.tool}",
            [
                load_row("JSON: GET /api/v1/assets?limit=100", list_json),
                load_row("page: GET /devices (100 rows)", list_page),
                load_row("JSON: GET /api/v1/assets/{id}", one_json),
                load_row("page: GET /devices/{id} (facts, timeline, moves)", one_page),
            ],
        )
        print(f"\nlist page / JSON: {_ratio(list_page, list_json)} (aim: at most 2x)")
        print(f"device page / JSON: {_ratio(one_page, one_json)} (aim: at most 2x)")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
