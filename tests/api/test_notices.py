"""GET /api/v1/notices/preview: today's notice, as it would be sent, over HTTP."""

from __future__ import annotations

import datetime as dt

import httpx

from tests import factories


async def test_the_preview_shows_what_needs_attention_without_names(
    admin: httpx.AsyncClient,
) -> None:
    soon = await factories.contract(ends_on=dt.date.today() + dt.timedelta(days=7))
    leaver = await factories.person(active=False, display_name="Preview Leaver")
    await factories.asset(status="deployed", person_id=leaver["id"])
    r = await admin.get("/api/v1/notices/preview")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["date"] == dt.datetime.now(dt.UTC).date().isoformat()
    assert body["empty"] is False and body["destinations"] == []  # none configured in tests
    keys = [s["key"] for s in body["sections"]]
    assert keys == [
        "contracts_ending_within_30_days",
        "contracts_ending_within_180_days",
        "leavers_devices",
        "recoveries_overdue",
        "devices_not_seen",
        "purchase_orders_over_delivered",
        "failed_jobs",
    ]
    ending = body["sections"][0]
    assert soon["reference"] in [c["reference"] for c in ending["items"]]
    assert ending["count"] >= 1 and len(ending["items"]) <= 100
    assert "Preview Leaver" not in r.text and leaver["upn"] not in r.text
