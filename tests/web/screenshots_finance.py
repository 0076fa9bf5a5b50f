"""``make screenshots``, the stores, finance and MDM pages: imports, forecasts, MDM and
procurement, on the full demo fleet (``fleetsvc demo``; loading it again adds nothing), with
a few handsets lost and an MDM sync pushed through the API so the reconciliation has
something to show."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from tests.web.import_files import demo_imei, despatch_with_problems

Shot = Callable[..., Awaitable[None]]
SignIn = Callable[..., Awaitable[None]]
SAMPLES = Path(__file__).resolve().parents[1] / "samples"
STORES = "alex.patel@force.example"
FINANCE = "chris.okafor@force.example"
STALE = 40  # handsets the MDM last heard from six weeks ago
_tokens: dict[str, str] = {}  # made by ``load``, used by ``prepare`` once the shots need it


def load(url: str) -> dict[str, str]:
    """The demo fleet, and an admin's and the MDM's API token for ``prepare``."""
    fleetsvc = str(Path(sys.executable).parent / "fleetsvc")
    env = {**os.environ, "DATABASE_URL": url, "FLEETSVC_LOG_LEVEL": "warning"}
    subprocess.run([fleetsvc, "demo"], env=env, check=True, capture_output=True)
    tokens = {}
    for role in ("admin", "mdm"):
        made = subprocess.run(
            [fleetsvc, "tokens", "create", "--name", f"screenshots-finance-{role}", "--role", role],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        tokens[role] = made.stdout.strip()
    _tokens.update(tokens)
    return tokens


def _upns(api: httpx.Client) -> dict[int, str]:
    """Every person's UPN by id (the MDM knows a device's user by UPN)."""
    out: dict[int, str] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        body = api.get("/people", params=params).raise_for_status().json()
        out.update({p["id"]: p["upn"] for p in body["items"] if p.get("upn")})
        cursor = body["next_cursor"]
        if not cursor:
            return out


def _record(asset: dict[str, Any], n: int, upn: str | None = None, **kw: Any) -> dict[str, Any]:
    return {
        "id": f"5f2c{n:08d}-0000-4000-8000-{n:012d}",
        "deviceName": f"MPS-{asset['serial_number']}",
        "serialNumber": asset["serial_number"],
        "imei": asset.get("imei") or "",
        "userPrincipalName": upn,
        "complianceState": "compliant",
        "lastSyncDateTime": "2026-12-03T06:40:00Z",
        "operatingSystem": "Android",
        "osVersion": "14",
        **kw,
    }


def _deployed(api: httpx.Client) -> list[dict[str, Any]]:
    """Every deployed handset and tablet: what the MDM manages."""
    out: list[dict[str, Any]] = []
    for category in ("smartphone", "ivma_tablet"):
        params: dict[str, Any] = {"category": category, "status": "deployed", "limit": 1000}
        while True:
            body = api.get("/assets", params=params).raise_for_status().json()
            out += body["items"]
            if not body["next_cursor"]:
                break
            params["cursor"] = body["next_cursor"]
    return out


def prepare(base: str, tokens: dict[str, str]) -> None:
    """Three handsets reported lost, then an MDM run of the whole fleet that still hears from
    them, has not heard from a few for weeks, other users for some, finds some non-compliant
    and some it alone knows."""
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    with httpx.Client(base_url=base + "/api/v1", headers=admin, timeout=120) as api:
        handsets = _deployed(api)
        for asset in handsets[:3]:
            etag = api.get(f"/assets/{asset['id']}").raise_for_status().headers["etag"]
            api.post(
                f"/assets/{asset['id']}/transitions",
                json={"to": "lost", "reason": "reported lost by the officer"},
                headers={"If-Match": etag},
            ).raise_for_status()
        upns = _upns(api)
    records = [
        _record(a, n, upns.get((a.get("holder") or {}).get("person_id") or 0))
        for n, a in enumerate(handsets)
    ]
    for n in range(40, 52):
        records[n]["userPrincipalName"] = f"shared.device{n}@force.example"
    for n in range(60, 4000, 37):
        records[n]["complianceState"] = "noncompliant"
    for n in range(200, 200 + STALE):
        records[n]["lastSyncDateTime"] = "2026-10-19T08:12:00Z"
    for n in range(5):
        records.append(
            _record(
                {"serial_number": f"R58UNKNOWN{n:03d}", "imei": demo_imei(900_000 + n)},
                len(handsets) + n,
                "unknown.user@force.example",
            )
        )
    records.append({**records[-1], "id": "5f2c-duplicate-enrolment"})
    mdm = {"Authorization": f"Bearer {tokens['mdm']}"}
    with httpx.Client(base_url=base + "/api/v1", headers=mdm, timeout=120) as api:
        run = "intune-2026-12-03T0640"
        for batch, start in enumerate(range(0, len(records), 1000), start=1):
            api.post(
                "/mdm/sync",
                json={"run_id": run, "batch": batch, "records": records[start : start + 1000]},
            ).raise_for_status()
        api.post("/mdm/sync", json={"run_id": run, "final": True}).raise_for_status()


async def shoot(page: Any, base: str, shot: Shot, sign_in: SignIn) -> None:
    """Each page as the person who uses it would see it: the forecasts on the demo fleet as
    it was loaded (£3.0m and £8.9m), then the rest once handsets are lost and imported."""
    await page.goto(base + "/account")
    await page.click("button:has-text('Sign out')")
    await sign_in(FINANCE)
    await _forecasts(page, base, shot)
    await page.click("button:has-text('Sign out')")
    await asyncio.to_thread(prepare, base, _tokens)
    await sign_in(STORES)
    await _imports(page, base, shot)
    await _procurement(page, base, shot)
    await page.goto(base + "/mdm")
    await shot("60-mdm")
    await page.click("table a[href^='/mdm/runs/']")
    await shot("62-mdm-run")


async def _imports(page: Any, base: str, shot: Shot) -> None:
    await page.goto(base + "/imports")
    await shot("40-imports")
    await page.check("#field-profile-vodafone-despatch")
    await page.set_input_files("#field-file", str(SAMPLES / "vodafone-despatch.csv"))
    await page.click("button:has-text('Upload and preview')")
    await page.wait_for_url(base + "/imports/*")
    await shot("41-import-preview")
    await page.click("button:has-text('Commit')")
    await page.locator(".notice--ok").first.wait_for()
    await shot("42-import-committed")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vodafone-despatch-2022-12-01.csv"
        path.write_bytes(despatch_with_problems(31, conflict_with=demo_imei(0)))
        await page.goto(base + "/imports")
        await page.check("#field-profile-vodafone-despatch")
        await page.set_input_files("#field-file", str(path))
        await page.click("button:has-text('Upload and preview')")
        await page.wait_for_url(base + "/imports/*")
    await shot("43-import-held-back")
    await shot("44-import-held-back-full", full_page=True)
    await page.click("button:has-text('Commit the')")
    await page.locator(".notice--ok").first.wait_for()
    await shot("45-import-valid-rows-committed")
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "despatch-whole-year.csv"
        with big.open("wb") as f:
            f.truncate(60 * 1024 * 1024)
        await page.goto(base + "/imports")
        await page.check("#field-profile-vodafone-despatch")
        await page.set_input_files("#field-file", str(big))
        await page.click("button:has-text('Upload and preview')")
        await page.locator("#field-file-error:not([hidden])").wait_for()
    await shot("46-import-too-large")
    await page.goto(base + "/imports")
    await shot("47-imports-list", full_page=True)


async def _procurement(page: Any, base: str, shot: Shot) -> None:
    await page.goto(base + "/procurement")
    await shot("50-procurement-contracts")
    await page.click("a:has-text('VF-HANDSET-2021')")
    await shot("51-contract")
    await page.goto(base + "/procurement/purchase-orders")
    await shot("52-purchase-orders")
    await page.click("a:has-text('4500071322')")
    await shot("53-purchase-order")
    await page.goto(base + "/procurement/purchase-orders/new")
    await page.fill("#field-number", "4500099001")
    await page.select_option(
        "#field-contract_id", label=await _option(page, "#field-contract_id", "VF-HANDSET-2021")
    )
    await page.fill("#field-raised_on", dt.date(2026, 12, 3).isoformat())
    await page.select_option(
        "#field-lines-0-model_id", label=await _option(page, "#field-lines-0-model_id", "Samsung")
    )
    await page.fill("#field-lines-0-quantity", "20000")
    await page.fill("#field-lines-0-unit_cost", "289.00")
    await page.click("button:has-text('Raise the order')")
    await page.locator(".error-summary").wait_for()
    await shot("54-purchase-order-over-cap")
    await page.goto(base + "/procurement/contracts/new")
    await shot("55-contract-new")


async def _option(page: Any, select: str, starts: str) -> str:
    labels: list[str] = await page.locator(f"{select} option").all_inner_texts()
    return next(label for label in labels if label.startswith(starts))


async def _forecasts(page: Any, base: str, shot: Shot) -> None:
    await page.goto(base + "/forecasts?from=2024/25&years=5")
    await shot("56-forecast-refresh")
    await shot("57-forecast-refresh-full", full_page=True)
    await page.goto(base + "/forecasts?from=2024/25&years=5&group_by=business_unit")
    await shot("58-forecast-by-business-unit", full_page=True)
    await page.goto(base + "/forecasts?kind=recurring&from=2025/26&years=5")
    await shot("59-forecast-recurring", full_page=True)
