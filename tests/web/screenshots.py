"""``make screenshots``: a PNG of each page at 1366×768 in docs/screenshots/, from the real
service on a throw-away database (on the embedded server in var/screenshots, dropped after).

Look at each one: a page that looks broken is broken.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from tests.web import screenshots_devices as devices
from tests.web import screenshots_finance as finance
from tests.web import screenshots_people as people
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, browser_missing, live_service

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
PASSWORD = "correct horse battery staple"
ADMIN = "sam.jones@force.example"
PEOPLE = [
    ("alex.patel@force.example", "stores"),
    ("chris.okafor@force.example", "finance"),
    ("dana.wright@force.example", "engineer"),
    ("eve.murphy@force.example", "auditor"),
    ("mdm.sync.owner@force.example", "mdm"),
]


def _fleetsvc(url: str, *args: str, stdin: str | None = None) -> None:
    subprocess.run(
        [str(Path(sys.executable).parent / "fleetsvc"), *args],
        input=stdin,
        env={**os.environ, "DATABASE_URL": url, "FLEETSVC_LOG_LEVEL": "warning"},
        check=True,
        capture_output=True,
        text=True,
    )


async def _shoot(base: str) -> list[Path]:
    from playwright.async_api import async_playwright

    written: list[Path] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = await (await browser.new_context(viewport=VIEWPORT)).new_page()  # type: ignore[arg-type]
        page.on("dialog", lambda d: d.accept())

        async def shot(
            name: str,
            *,
            mask: list[str] = (),  # type: ignore[assignment]
            full_page: bool = False,
        ) -> None:
            path = OUT / f"{name}.png"
            await page.screenshot(
                path=str(path), mask=[page.locator(m) for m in mask], full_page=full_page
            )
            written.append(path)

        async def sign_in(email: str, password: str = PASSWORD) -> None:
            await page.fill("#field-email", email)
            await page.fill("#field-password", password)
            await page.click("button:has-text('Sign in')")

        await page.goto(base + "/")
        await shot("01-sign-in")
        await sign_in(ADMIN, "not my password")
        await page.locator(".error-summary").wait_for()
        await shot("02-sign-in-failed")
        await sign_in(ADMIN)
        await page.wait_for_url(base + "/")
        await shot("03-home")
        await page.goto(base + "/account")
        await page.fill("#field-name", "nightly-mdm-sync")
        await page.select_option("#field-role", "mdm")
        await page.click("button:has-text('Make the token')")
        await shot("04-account-token-made", mask=["#new-token"])
        await page.goto(base + "/account")
        await page.fill("#field-name", "x" * 3)
        await page.fill("#field-name", "nightly-mdm-sync")
        await page.click("button:has-text('Make the token')")
        await page.locator(".error-summary").wait_for()
        await shot("05-account-form-error")
        await page.goto(base + "/users")
        await shot("06-users")
        await page.goto(base + "/users")
        await page.fill("#field-password", "short")
        await page.fill("#field-email", "new.starter@force.example")
        await page.click("button:has-text('Add the user')")
        await page.locator(".error-summary").wait_for()
        await shot("07-users-add-error")
        await page.goto(base + "/users/2")
        await shot("08-user")
        await page.goto(base + "/users")
        await page.emulate_media(media="print")
        await shot("12-users-print")
        await page.emulate_media(media="screen")
        await page.goto(base + "/no/such/page")
        await shot("09-not-found")
        await page.goto(base + "/schema")
        await page.locator(".opblock").first.wait_for()
        await shot("10-api-docs")
        await page.goto(base + "/account")
        await page.click("button:has-text('Sign out')")
        await sign_in(PEOPLE[0][0])
        await page.goto(base + "/users")
        await shot("11-forbidden")
        await _stocktake(page, base, shot)
        await finance.shoot(page, base, shot, sign_in)
        await devices.shoot(page, base, shot, sign_in)
        await people.shoot(page, base, shot, sign_in)
        await browser.close()
    return written


STORE_SERIALS = [f"R58N{n:07d}" for n in range(1, 13)]


async def _seed_store(url: str) -> None:
    """A station keeping 12 handsets, one of them issued to an officer, for the stocktake."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        model = await conn.fetchval(
            "INSERT INTO device_model (manufacturer, model_name, category, lifecycle_months)"
            " VALUES ('Samsung', 'Galaxy A32', 'smartphone', 36) RETURNING id"
        )
        here = await conn.fetchval(
            "INSERT INTO location (code, name) VALUES ('STN-NORTH', 'Northtown police station')"
            " RETURNING id"
        )
        person = await conn.fetchval(
            "INSERT INTO person (employee_number, display_name, upn)"
            " VALUES ('E10442', 'Alex Patel', 'alex.patel@force.example') RETURNING id"
        )
        for serial in STORE_SERIALS:
            await conn.execute(
                "INSERT INTO asset (model_id, manufacturer, serial_number, location_id)"
                " VALUES ($1, 'samsung', $2, $3)",
                model,
                serial,
                here,
            )
        await conn.execute(
            "INSERT INTO asset (model_id, manufacturer, serial_number, status, person_id)"
            " VALUES ($1, 'samsung', 'R58N0009001', 'deployed', $2)",
            model,
            person,
        )
    finally:
        await conn.close()


async def _stocktake(page: Any, base: str, shot: Any) -> None:
    """Stores staff count the station (the stores user is signed in)."""
    await page.goto(base + "/stocktakes")
    await page.select_option("#field-location_id", label="STN-NORTH · Northtown police station")
    await page.click("button:has-text('Start counting')")
    await page.wait_for_url("**/scan")
    codes = [*STORE_SERIALS[:9], STORE_SERIALS[2], "BOX-LABEL-7731", "R58N0009001"]
    for n, code in enumerate(codes, start=1):
        await page.keyboard.type(code + "\n", delay=5)
        await page.locator("#scan-log li").nth(n - 1).wait_for()
    await shot("14-stocktake-scan")
    await page.click("text=See the result and close the stocktake")
    await page.wait_for_url("**/stocktakes/*")
    await shot("15-stocktake-result")
    await page.check("#field-move_elsewhere_here")
    await page.click("button:has-text('Close the stocktake')")
    await page.locator(".notice--ok").wait_for()
    await shot("16-stocktake-closed", full_page=True)
    await page.goto(base + "/stocktakes")
    await shot("13-stocktakes")


def _with_database(job: Callable[[str], Coroutine[Any, Any, list[Path]]]) -> list[Path]:
    from db.embedded import drop_database, ensure_database, start_server, with_database

    admin = start_server(ROOT / "var" / "screenshots")
    name = f"fleetsvc_shots_{uuid.uuid4().hex[:8]}"
    asyncio.run(ensure_database(admin, name))
    url = with_database(admin, name)
    try:
        _fleetsvc(url, "db", "migrate")
        for email, role in [(ADMIN, "admin"), *PEOPLE]:
            _fleetsvc(
                url,
                "users",
                "create",
                "--email",
                email,
                "--role",
                role,
                "--password-stdin",
                stdin=PASSWORD,
            )
        asyncio.run(_seed_store(url))
        finance.load(url)
        with live_service(url) as base:
            return asyncio.run(job(base))
    finally:
        asyncio.run(drop_database(admin, name))


def main() -> None:
    why = browser_missing()
    if why is not None:
        sys.exit(why.replace("browser tests skipped", "make screenshots needs a browser"))
    OUT.mkdir(parents=True, exist_ok=True)
    for path in _with_database(_shoot):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
