"""The devices pages against the API's JSON for the same data, in the same run: the device
list page (100 rows) against ``GET /api/v1/assets?limit=100``, and a device's page (its
facts, timeline and moves) against ``GET /api/v1/assets/{id}``, each for a fixed time at
32 connections on 127.0.0.1. The register is ``bench.register``'s (assets with SIMs,
holders and installs); the devices read have a short history of moves made through the API.

Each connection is its own signed-in user (a session each, as 32 stores staff would be):
the pages' guard touches its session on every request, and 32 requests on one session
would queue on its row. The load generator is Python (httpx), one client per connection,
the same for the pages and the JSON; it shares the machine's cores with the service, so
the ratio says more than the absolute figures. The reads take turns, a slice at a time, so
a change in the machine's load (other work on it) falls on the pages and the JSON alike.

    .venv/bin/python -m bench.pages [--assets 20000] [--seconds 8] [--connections 32] [--rounds 4]
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
from dataclasses import dataclass, field

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


@dataclass
class Tally:
    """What the loads of one kind of read measured, slice after slice."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def result(self) -> LoadResult:
        q = statistics.quantiles(self.latencies, n=100)
        rps = len(self.latencies) / self.seconds
        return LoadResult(rps, q[49], q[98], self.errors, "python, a client each, interleaved")


@dataclass(frozen=True)
class Read:
    paths: list[str]
    headers: list[dict[str, str]]
    then: str | None = None  # a second GET of each path plus this, in the same read


async def _load(read: Read, base: str, seconds: float, tally: Tally, seed: int) -> None:
    """GET ``read.paths`` at random for ``seconds``, one client (one connection) per header
    set; with ``read.then``, each read is that path and the path plus ``then``."""
    stop = time.monotonic() + seconds
    rng = random.Random(seed)

    async def worker(h: dict[str, str]) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base, headers=h, limits=limits) as client:
            while time.monotonic() < stop:
                t = time.perf_counter()
                path = rng.choice(read.paths)
                r = await client.get(path)
                if read.then is not None and r.status_code == 200:
                    r = await client.get(path + read.then)
                tally.latencies.append((time.perf_counter() - t) * 1000)
                if r.status_code != 200:
                    tally.errors += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(h) for h in read.headers))
    tally.seconds += time.monotonic() - started


def interleaved(
    reads: dict[str, Read], base: str, seconds: int, rounds: int
) -> dict[str, LoadResult]:
    """Each read for ``seconds`` in all, in ``rounds`` slices taken in turn (the order
    reversed every other round): the machine's load, which drifts, falls on all alike."""
    tallies = {name: Tally() for name in reads}
    names = list(reads)
    for n in range(rounds):
        for name in names if n % 2 == 0 else reversed(names):
            asyncio.run(_load(reads[name], base, seconds / rounds, tallies[name], n))
    return {name: t.result() for name, t in tallies.items()}


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


def _report(title: str, assets: int, args: argparse.Namespace, got: dict[str, LoadResult]) -> None:
    list_json, list_page = got["list_json"], got["list_page"]
    one_json, one_page, pair_json = got["one_json"], got["one_page"], got["pair_json"]
    print_table(
        f"{assets:,} assets; {title}, {args.seconds} s each in {args.rounds} slices taken in"
        f" turn, signed in as stores (the page shows the moves); load by {list_json.tool}",
        [
            load_row("JSON: GET /api/v1/assets?limit=100", list_json),
            load_row("page: GET /devices (100 rows)", list_page),
            load_row("JSON: GET /api/v1/assets/{id}", one_json),
            load_row("page: GET /devices/{id} (facts, timeline, moves)", one_page),
            load_row("JSON: GET /api/v1/assets/{id}, then its /events", pair_json),
        ],
    )
    print(f"\nlist page / JSON: {_ratio(list_page, list_json)} (aim: at most 2x)")
    print(f"device page / JSON: {_ratio(one_page, one_json)} (aim: at most 2x)")
    print(f"device page / JSON asset and events: {_ratio(one_page, pair_json)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--assets", type=int, default=20_000)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=4, help="slices each read's time is cut in")
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
            devices = [f"/devices/{i}" for i in moved]
            assets = [f"/api/v1/assets/{i}" for i in moved]
            reads = {
                "list_json": Read(["/api/v1/assets?limit=100"], tokens),
                "list_page": Read(["/devices"], cookies),
                "one_json": Read(assets, tokens),
                "one_page": Read(devices, cookies),
                # What a script reading what the page shows reads: the asset, its history.
                "pair_json": Read(assets, tokens, then="/events"),
            }
            got = interleaved(reads, base, args.seconds, args.rounds)
            # One connection: each read's own cost, without 32 queued behind one another.
            alone = interleaved(
                {k: Read(r.paths, r.headers[:1], r.then) for k, r in reads.items()},
                base,
                args.seconds,
                args.rounds,
            )
        for title, results in (
            (f"{args.connections} connections", got),
            ("1 connection (each read's own cost, nothing queued)", alone),
        ):
            _report(title, len(ids), args, results)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
