"""The stores, finance and MDM pages in a real browser: headless Chromium against the real
service, each group of tests on a database of its own holding the demo fleet's handsets
(``tests.web.demo_seed``, seeded once and copied), so the figures are the demo's and the
sample file meets its order.

Every page a test opens is watched as in ``test_browser``: a request to any host but the
service, or an error on the console (a script or style the security policy refused among
them), fails the test.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import Databases, clone_database, new_database
from tests.web.browser import VIEWPORT, browser_missing, live_service
from tests.web.conftest import PASSWORD, Account
from tests.web.import_files import demo_imei, despatch_with_problems

if (why := browser_missing()) is not None:
    pytest.skip(why, allow_module_level=True)

from playwright.async_api import Browser

from tests.web.test_browser import Watched

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "vodafone-despatch.csv"


@dataclass
class Fleet:
    """The service on a demo database of its own."""

    base: str
    url: str

    async def account(self, role: str) -> Account:
        from fleetsvc.auth import Actor
        from fleetsvc.users import create_user

        email = f"{role}.{uuid.uuid4().hex[:8]}@force.example"
        conn = await asyncpg.connect(self.url)
        try:
            async with conn.transaction():
                user = await create_user(conn, Actor("tests", "admin"), email, role, PASSWORD)
        finally:
            await conn.close()
        return Account(user.id, email, role)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.url)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()


@pytest.fixture(scope="module")
async def demo_template(databases: Databases) -> AsyncIterator[str]:
    """A database holding the demo fleet's handsets, seeded once: each fleet is a copy."""
    from db.embedded import drop_database

    name = f"fleetsvc_browser_demo_{uuid.uuid4().hex[:8]}"
    db = await new_database(databases, name)
    roles = {"DATABASE_URL": db.service, "FLEETSVC_MIGRATION_DATABASE_URL": db.owner}
    try:
        seeded = subprocess.run(
            [sys.executable, "-m", "tests.web.demo_seed"],
            env={**os.environ, **roles, "FLEETSVC_LOG_LEVEL": "warning"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert seeded.returncode == 0, seeded.stderr
        yield name
    finally:
        await drop_database(databases.admin, name)


@asynccontextmanager
async def _fleet(databases: Databases, template: str, **env: str) -> AsyncIterator[Fleet]:
    from db.embedded import drop_database

    name = f"fleetsvc_browser_{uuid.uuid4().hex[:8]}"
    db = await clone_database(databases, template, name)
    try:
        with live_service(db.service, FLEETSVC_MIGRATION_DATABASE_URL=db.owner, **env) as base:
            yield Fleet(base, db.service)
    finally:
        await drop_database(databases.admin, name)


@pytest.fixture(scope="module")
async def untouched(databases: Databases, demo_template: str) -> AsyncIterator[Fleet]:
    """The demo fleet as loaded: nothing in these tests changes what it holds."""
    async with _fleet(databases, demo_template) as fleet:
        yield fleet


@pytest.fixture(scope="module")
async def stores_fleet(databases: Databases, demo_template: str) -> AsyncIterator[Fleet]:
    """The demo fleet the import tests deliver to (uploads of up to 1 MiB)."""
    async with _fleet(databases, demo_template, FLEETSVC_MAX_UPLOAD_MB="1") as fleet:
        yield fleet


@asynccontextmanager
async def watched(browser: Browser, fleet: Fleet, **context: Any) -> AsyncIterator[Watched]:
    ctx = await browser.new_context(viewport=VIEWPORT, accept_downloads=True, **context)  # type: ignore[arg-type]
    page = await ctx.new_page()
    tab = Watched(page, fleet.base)
    ctx.on("request", lambda r: tab.requests.append(r.url))
    page.on(
        "console",
        lambda m: (
            tab.console_errors.append((m.text, m.location.get("url", "")))
            if m.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda e: tab.console_errors.append((str(e), "")))
    page.on(
        "response",
        lambda r: (
            tab.error_pages.add(r.url)
            if r.request.resource_type == "document" and r.status >= 400
            else None
        ),
    )
    page.on("dialog", lambda d: d.accept())
    try:
        yield tab
    finally:
        await ctx.close()
    foreign = [u for u in tab.requests if not u.startswith(fleet.base + "/")]
    assert not foreign, f"requests to other hosts: {foreign}"
    assert not tab.faults(), tab.faults()


async def _signed_in(tab: Watched, account: Account, path: str) -> None:
    await tab.goto(path)
    await tab.sign_in(account)
    await tab.page.wait_for_url(tab.base + path)


async def _upload(tab: Watched, path: Path) -> None:
    await tab.page.check("#field-profile-vodafone-despatch")
    await tab.page.set_input_files("#field-file", str(path))
    await tab.page.click("button:has-text('Upload and preview')")


async def _figure(tab: Watched, label: str) -> str:
    block = tab.page.locator(".counts .figure", has=tab.page.locator(f"dt:has-text('{label}')"))
    return (await block.locator("dd").first.inner_text()).strip()


async def test_the_vodafone_sample_previewed_then_committed_once(
    browser: Browser, stores_fleet: Fleet
) -> None:
    account = await stores_fleet.account("stores")
    async with watched(browser, stores_fleet) as tab:
        await _signed_in(tab, account, "/imports")
        await _upload(tab, SAMPLE)
        await tab.page.wait_for_url(tab.base + "/imports/*")
        assert "This is a preview" in await tab.page.inner_text("main")
        assert await _figure(tab, "New") == "12" and await _figure(tab, "Rejected") == "0"
        # The demo's 2022 order is delivered in full already: these 12 are over it.
        line = tab.page.locator("#orders ~ .table-wrap tbody tr").first
        cells = await line.locator("td").all_inner_texts()
        assert cells[0] == "4500071322" and cells[2:] == ["29,737", "29,737", "12", "12", "12"]
        import_id = int(tab.page.url.rsplit("/", 1)[1])
        # Two clicks on "commit" (the second while the first is on its way): one commit.
        await tab.page.dblclick("button:has-text('Commit 12 new rows')")
        await tab.page.locator(".notice--ok").first.wait_for()
        assert "12 new rows went into the register" in await tab.page.inner_text("main")
        assert await tab.page.locator("form[action$='/commit']").count() == 0
    committed = await stores_fleet.fetchval(
        "SELECT count(*) FROM event WHERE entity = 'delivery_import' AND entity_id = $1"
        " AND action = 'committed'",
        import_id,
    )
    assets = await stores_fleet.fetchval(
        "SELECT count(*) FROM asset WHERE delivery_import_id = $1", import_id
    )
    assert (committed, assets) == (1, 12)


async def test_rejected_rows_then_the_valid_ones_committed_and_rejected_csv(
    browser: Browser, stores_fleet: Fleet, tmp_path: Path
) -> None:
    account = await stores_fleet.account("stores")
    path = tmp_path / "vodafone-despatch-2022-12-01.csv"
    path.write_bytes(despatch_with_problems(41, conflict_with=demo_imei(0)))
    async with watched(browser, stores_fleet) as tab:
        await _signed_in(tab, account, "/imports")
        await _upload(tab, path)
        await tab.page.wait_for_url(tab.base + "/imports/*")
        assert await _figure(tab, "Rejected") == "3" and await _figure(tab, "Conflicts") == "1"
        conflicts = await tab.page.inner_text("#conflicts ~ .table-wrap")
        # What differs, as the file gives it and as the register has it.
        assert "with a different serial number (file " in conflicts
        assert ", register R58D0000000)" in conflicts
        rejected = tab.page.locator("#rejected + .table-wrap tbody tr")
        assert await rejected.count() == 3
        assert "IMEI check digit is wrong" in await rejected.first.inner_text()
        await tab.page.click("button:has-text('Commit the 8 valid rows')")  # and confirm
        await tab.page.locator(".notice--ok").first.wait_for()
        assert "8 new rows went into the register; 4 rows were left out" in (
            await tab.page.inner_text("main")
        )
        async with tab.page.expect_download() as got:
            await tab.page.click("a:has-text('Download rejected.csv')")
        download = await got.value
        saved = Path(await download.path())
        text = await asyncio.to_thread(saved.read_text, encoding="utf-8-sig")
    assert download.suggested_filename.startswith("rejected-")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4 and all(r["error"] for r in rows)
    assert demo_imei(0) in {r["IMEI"] for r in rows}


async def test_a_file_over_the_limit_is_refused_before_it_is_sent(
    browser: Browser, stores_fleet: Fleet, tmp_path: Path
) -> None:
    account = await stores_fleet.account("stores")
    big = tmp_path / "despatch-whole-year.csv"
    with big.open("wb") as f:
        f.truncate(2 * 1024 * 1024)
    async with watched(browser, stores_fleet) as tab:
        await _signed_in(tab, account, "/imports")
        posted: list[str] = []
        tab.page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
        await _upload(tab, big)
        error = tab.page.locator("#field-file-error")
        await error.wait_for()
        assert "larger than the 1 MiB this service accepts" in await error.inner_text()
        assert posted == [] and tab.page.url == tab.base + "/imports"
    # Without the script the service says the same, on the page.
    async with watched(browser, stores_fleet, java_script_enabled=False) as tab:
        await _signed_in(tab, account, "/imports")
        await _upload(tab, big)
        await tab.page.wait_for_load_state()
        assert "larger than the 1 MiB this service accepts" in await tab.page.inner_text(
            "#field-file-error"
        )


async def test_an_import_in_progress_shows_itself_done_when_it_is(
    browser: Browser, stores_fleet: Fleet
) -> None:
    account = await stores_fleet.account("finance")
    import_id = await stores_fleet.fetchval(
        "INSERT INTO delivery_import (profile, file_name, sha256, size_bytes, status,"
        " allow_partial, created_by, created_role, counts, summary) VALUES ('vodafone-despatch',"
        " 'big.csv', $1, 1, 'running', false, 'tests', 'stores', '{\"rows\": 15000}', '{}')"
        " RETURNING id",
        uuid.uuid4().hex * 2,
    )
    async with watched(browser, stores_fleet) as tab:
        await _signed_in(tab, account, f"/imports/{import_id}")
        assert "15,000 rows read so far" in await tab.page.inner_text("[data-progress-text]")
        await stores_fleet.fetchval(
            "UPDATE delivery_import SET status = 'failed', summary = '{\"message\": \"stopped\"}'"
            " WHERE id = $1 RETURNING id",
            import_id,
        )
        # The page's script asks again, sees it is over and shows the page as it is now.
        await tab.page.locator("text=This import failed").wait_for()
        assert await tab.page.locator("[data-progress-url]").count() == 0


async def test_the_forecast_shows_the_demo_figures_and_a_chart(
    browser: Browser, untouched: Fleet
) -> None:
    account = await untouched.account("finance")
    async with watched(browser, untouched) as tab:
        await _signed_in(tab, account, "/forecasts?from=2024/25&years=5")
        totals = tab.page.locator("tfoot td[data-year]")
        by_year = {
            await td.get_attribute("data-year"): (await td.inner_text()).split("\n")[0]
            for td in await totals.all()
        }
        assert by_year["2024/25"] == "£3,000,000.00"
        assert by_year["2025/26"] == "£8,921,100.00"
        chart = tab.page.locator("svg.chart__svg")
        box = await chart.bounding_box()
        assert box and box["width"] > 600 and box["height"] > 150
        bars = chart.locator("rect.chart__bar")
        heights = [float(await b.get_attribute("height") or 0) for b in await bars.all()]
        assert len(heights) >= 2 and heights[1] > 2.5 * heights[0]  # £8.9m against £3.0m
        async with tab.page.expect_download() as got:
            await tab.page.click("a:has-text('Download Excel (XLSX)')")
        assert (await got.value).suggested_filename == "refresh-forecast-2024-25.xlsx"


async def test_a_finance_user_sees_no_import_actions(browser: Browser, untouched: Fleet) -> None:
    account = await untouched.account("finance")
    async with watched(browser, untouched) as tab:
        await _signed_in(tab, account, "/imports")
        assert await tab.page.locator("input[type=file]").count() == 0
        await tab.page.click("table a[href^='/imports/']")
        await tab.page.wait_for_url(tab.base + "/imports/*")
        assert await tab.page.locator("form[action$='/commit']").count() == 0
        nav = await tab.page.inner_text("nav.site-nav")
        assert "Forecasts" in nav and "Users" not in nav
        # Procurement is finance's to write.
        await tab.goto("/procurement")
        assert await tab.page.locator("a:has-text('New contract')").count() == 1


async def test_an_upload_or_a_commit_without_its_form_token_is_refused(
    browser: Browser, untouched: Fleet
) -> None:
    account = await untouched.account("stores")
    async with watched(browser, untouched) as tab:
        await _signed_in(tab, account, "/imports")
        await tab.page.evaluate(
            "document.querySelector('form[data-upload] input[name=csrf_token]').remove()"
        )
        async with tab.page.expect_response(tab.base + "/imports") as sent:
            await _upload(tab, SAMPLE)
        assert (await sent.value).status == 403
        assert "This form could not be accepted" in await tab.page.inner_text("main")
    assert (
        await untouched.fetchval(
            "SELECT count(*) FROM delivery_import WHERE file_name = 'vodafone-despatch.csv'"
        )
        == 0
    )


async def test_the_mdm_and_procurement_pages_load_from_the_service_alone(
    browser: Browser, untouched: Fleet
) -> None:
    account = await untouched.account("auditor")
    async with watched(browser, untouched) as tab:
        await _signed_in(tab, account, "/mdm")
        for path in (
            "/mdm",
            "/procurement",
            "/procurement/purchase-orders",
            "/procurement/suppliers",
            "/forecasts?kind=recurring&from=2025/26",
            "/imports",
        ):
            response = await tab.goto(path)
            assert response.status == 200, path
            await tab.page.wait_for_load_state("networkidle")
        assert {u.split("?")[0].removeprefix(tab.base) for u in tab.requests} >= {
            "/static/fleetsvc.css",
            "/static/fleetsvc.js",
        }
