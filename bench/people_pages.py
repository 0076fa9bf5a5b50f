"""The dashboard, people and vehicles pages against the API's JSON for the same data, in the
same run, at 32 connections (aim: a page costs no more than 2× its JSON):

- the dashboard (``/``) and ``GET /api/v1/reports/summary``;
- a person's page (the leaver checklist) and ``GET /api/v1/people/{id}/assets``;
- the people list (50 a page) and ``GET /api/v1/people?limit=50``;
- a vehicle's page and ``GET /api/v1/vehicles/{id}/installs``;
- and the floor every page pays: ``/account`` (the session, the navigation, little else)
  against ``GET /api/v1/people/{id}``.

On the demo fleet with its handsets in full and the rest small (``tests/web/demo_seed``'s
size). The page requests carry a signed-in session's cookie, the API's a token.

    .venv/bin/python -m bench.people_pages [--seconds 5] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess

import asyncpg
import httpx

from bench.common import (
    BIN,
    STEADY_STATE,
    bench_database,
    http_load,
    load_row,
    make_token,
    print_table,
    service,
)

EMAIL = "bench.pages@force.example"
PASSWORD = "correct horse battery staple"  # noqa: S105 - a throw-away database's user


def _load_demo(url: str) -> None:
    from fleetsvc.commands.common import cli_actor, load, run_with_database
    from fleetsvc.demo.load import load_demo
    from fleetsvc.demo.shape import DemoSize

    size = DemoSize(people=2_000, specials=20, staff=500, vehicles=40, tablets=50)
    os.environ["DATABASE_URL"] = url
    run_with_database(load(), lambda: load_demo(cli_actor(), size=size))


async def _ids(url: str) -> tuple[list[int], list[int]]:
    """People who hold a device, and vehicles with an install (up to 500 of each)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(STEADY_STATE)
        people = await conn.fetch(
            "SELECT DISTINCT person_id FROM asset WHERE person_id IS NOT NULL LIMIT 500"
        )
        vehicles = await conn.fetch("SELECT DISTINCT vehicle_id FROM install LIMIT 500")
    finally:
        await conn.close()
    return [r[0] for r in people], [r[0] for r in vehicles]


def _session_cookie(base: str, url: str) -> str:
    subprocess.run(
        [
            str(BIN / "fleetsvc"),
            *("users", "create", "--email", EMAIL, "--role", "stores", "--password-stdin"),
        ],
        input=PASSWORD,
        env={**os.environ, "DATABASE_URL": url, "FLEETSVC_LOG_LEVEL": "warning"},
        check=True,
        capture_output=True,
        text=True,
    )
    with httpx.Client(base_url=base) as client:
        form = client.get("/sign-in").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token, "no form token on the sign-in page"
        r = client.post(
            "/sign-in", data={"csrf_token": token[1], "email": EMAIL, "password": PASSWORD}
        )
        assert r.status_code == 303, r.text
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    with bench_database() as url:
        _load_demo(url)
        people, vehicles = asyncio.run(_ids(url))
        token = make_token(url, "stores")
        api = {"Authorization": f"Bearer {token}"}
        pairs = [
            # The floor every page pays (the session read and touched, the navigation): a
            # page that reads almost nothing, against one person's JSON.
            ("floor: /account", ["/account"], [f"/api/v1/people/{i}" for i in people]),
            ("dashboard", ["/"], ["/api/v1/reports/summary"]),
            (
                "person (checklist)",
                [f"/people/{i}" for i in people],
                [f"/api/v1/people/{i}/assets" for i in people],
            ),
            ("people list (50)", ["/people"], ["/api/v1/people?limit=50"]),
            (
                "vehicle",
                [f"/vehicles/{i}" for i in vehicles],
                [f"/api/v1/vehicles/{i}/installs" for i in vehicles],
            ),
        ]
        rows = []
        with service(url) as base:
            cookies = {"Cookie": _session_cookie(base, url)}
            for name, page_paths, json_paths in pairs:
                load = {"seconds": args.seconds, "connections": args.connections}
                as_json = http_load(json_paths, base, api, **load)
                as_page = http_load(page_paths, base, cookies, **load)
                baseline = load_row(f"{name}: JSON (baseline)", as_json)
                baseline["page ÷ JSON (req/s)"] = ""
                row = load_row(f"{name}: page", as_page)
                row["page ÷ JSON (req/s)"] = f"{as_json.rps / as_page.rps:.2f}×"
                rows += [baseline, row]
        print_table(
            f"Pages against their JSON, {args.connections} connections, {args.seconds} s each"
            f" ({as_page.tool} load generator)",
            rows,
        )


if __name__ == "__main__":
    main()
