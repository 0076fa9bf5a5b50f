"""The devices pages over ASGI: the list with its one search box (an identifier of any kind,
posted so that no employee number or UPN lands in an address), its filters and paging; a
device's page with its facts and timeline; the moves its status allows, for the roles that
may make them, each checked against the version the page was rendered with."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Any

import httpx

from db.engine import connection, transaction
from tests import factories as f
from tests.conftest import unique
from tests.web.conftest import SignedIn, SignedInFactory, csrf_of

MOVERS = ("admin", "engineer", "stores")
READERS = ("finance", "auditor", "mdm")


async def _held_handset() -> dict[str, Any]:
    """A handset with a SIM, on a contract and order, issued to a person."""
    person = await f.person()
    contract = await f.contract()
    model = await f.device_model()
    po = await f.insert(
        "purchase_order",
        number=unique("PO")[:12],
        contract_id=contract["id"],
        raised_on=dt.date(2022, 10, 1),
    )
    asset = await f.asset(
        model,
        status="deployed",
        person_id=person["id"],
        contract_id=contract["id"],
        purchase_order_id=po["id"],
        asset_tag=unique("MPS"),
    )
    sim = await f.sim(asset_id=asset["id"])
    return {"asset": asset, "person": person, "contract": contract, "po": po, "sim": sim}


async def _search(me: SignedIn, q: str, **filters: str) -> httpx.Response:
    form = await me.client.get("/devices")
    return await me.client.post(
        "/devices/search", data={"csrf_token": csrf_of(form.text), "q": q, **filters}
    )


async def _move(me: SignedIn, asset_id: int, **fields: str) -> httpx.Response:
    page = await me.client.get(f"/devices/{asset_id}")
    version = re.search(r'name="version" value="(\d+)"', page.text)
    data = {"csrf_token": csrf_of(page.text), "reason": "a test", **fields}
    if version and "version" not in fields:
        data["version"] = version.group(1)
    return await me.client.post(f"/devices/{asset_id}/move", data=data)


async def _status(asset_id: int) -> tuple[str, int]:
    async with connection() as conn:
        row = await conn.fetchrow("SELECT status, version FROM asset WHERE id = $1", asset_id)
    assert row is not None
    return row["status"], row["version"]


async def test_one_match_opens_the_device_by_any_identifier(
    signed_in_as: SignedInFactory,
) -> None:
    held = await _held_handset()
    asset, person = held["asset"], held["person"]
    me = await signed_in_as("engineer")
    for q in (
        asset["imei"],
        asset["serial_number"].lower(),
        asset["asset_tag"],
        held["sim"]["msisdn"],
        person["employee_number"],
        person["upn"].upper(),
    ):
        r = await _search(me, q)
        assert r.status_code == 303, (q, r.text[:300])
        assert r.headers["location"] == f"/devices/{asset['id']}", q


async def test_personal_identifiers_never_reach_the_address(
    signed_in_as: SignedInFactory,
) -> None:
    person = await f.person()
    model = await f.device_model()
    first = await f.asset(model, status="deployed", person_id=person["id"])
    second = await f.asset(model, status="deployed", person_id=person["id"])
    me = await signed_in_as("stores")
    r = await _search(me, person["upn"], status="deployed")
    assert r.status_code == 303
    where = r.headers["location"]
    assert where.startswith("/devices?") and "search=" in where and "status=deployed" in where
    assert person["upn"].split("@")[0] not in where.lower()
    listed = await me.client.get(where)
    assert listed.status_code == 200
    for a in (first, second):
        assert f'href="/devices/{a["id"]}"' in listed.text
    assert f"Devices matching <strong>“{person['upn']}”</strong>" in listed.text
    # Another session cannot read the search behind the handle.
    other = await signed_in_as("stores")
    theirs = await other.client.get(where)
    assert person["upn"] not in theirs.text and "That search has ended" in theirs.text


async def test_no_match_says_so(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("auditor")
    r = await _search(me, "NO-SUCH-THING-42")
    listed = await me.client.get(r.headers["location"])
    assert "No device matches “NO-SUCH-THING-42”" in listed.text


async def test_filters_stay_in_the_address_and_page_by_a_hundred(
    signed_in_as: SignedInFactory,
) -> None:
    model = await f.device_model(category="tablet")
    made = [await f.asset(model, status="in_repair") for _ in range(3)]
    me = await signed_in_as("finance")
    r = await me.client.get("/devices", params={"model": str(model["id"]), "status": "in_repair"})
    assert r.status_code == 200
    assert [int(i) for i in re.findall(r'<a href="/devices/(\d+)">', r.text)] == [
        a["id"] for a in made
    ]
    assert f'<option value="{model["id"]}" selected>' in r.text
    many = await f.device_model(category="accessory")
    async with transaction() as conn:
        await conn.execute(
            "INSERT INTO asset (model_id, manufacturer, serial_number, location_id)"
            " SELECT $1, 'samsung', $2 || g, $3 FROM generate_series(1, 130) g",
            many["id"],
            unique("MANY"),
            await f.default_location_id(),
        )
    first = await me.client.get("/devices", params={"model": str(many["id"])})
    rows = re.findall(r'<a href="/devices/(\d+)">', first.text)
    assert len(rows) == 100 and "Next 100 »" in first.text
    next_url = re.search(r'href="(/devices\?[^"]+)" rel="next"', first.text)
    assert next_url and f"model={many['id']}" in next_url.group(1)
    second = await me.client.get(next_url.group(1).replace("&amp;", "&"))
    assert len(re.findall(r'<a href="/devices/(\d+)">', second.text)) == 30
    bad = await me.client.get("/devices", params={"status": "mislaid"})
    assert bad.status_code == 422 and "status must be one of" in bad.text


async def test_the_device_page_shows_its_facts_and_holder(signed_in_as: SignedInFactory) -> None:
    held = await _held_handset()
    asset, person = held["asset"], held["person"]
    me = await signed_in_as("auditor")
    r = await me.client.get(f"/devices/{asset['id']}")
    assert r.status_code == 200
    for text in (
        asset["serial_number"],
        asset["imei"],
        held["sim"]["iccid"],
        held["sim"]["msisdn"],
        f'<a href="/people/{person["id"]}">{person["display_name"]}</a>',
        f'<a href="/procurement/contracts/{held["contract"]["id"]}">'
        f"{held['contract']['reference']}</a>",
        held["po"]["number"],
    ):
        assert text in r.text, text
    missing = await me.client.get("/devices/999999999")
    assert missing.status_code == 404 and "Not found" in missing.text


async def test_only_the_roles_that_move_devices_see_the_moves(
    signed_in_as: SignedInFactory,
) -> None:
    asset = await f.asset()
    for role in (*MOVERS, *READERS):
        me = await signed_in_as(role)
        r = await me.client.get(f"/devices/{asset['id']}")
        shown = 'action="/devices/' in r.text and "Move this device" in r.text
        assert shown == (role in MOVERS), role
        if role in READERS:
            crafted = await me.post(
                f"/devices/{asset['id']}/move",
                {"to": "lost", "reason": "crafted", "version": str(asset["version"])},
            )
            assert crafted.status_code == 403 and "You can’t do this" in crafted.text
    assert await _status(asset["id"]) == ("in_stock", asset["version"])


async def test_issue_to_a_person_found_by_a_search(signed_in_as: SignedInFactory) -> None:
    person = await f.person(display_name=unique("Constable "))
    asset = await f.asset()
    me = await signed_in_as("stores")
    page = await me.client.get(f"/devices/{asset['id']}")
    found = await me.client.post(
        f"/devices/{asset['id']}/people",
        data={"csrf_token": csrf_of(page.text), "person": person["employee_number"]},
    )
    assert found.status_code == 303
    assert person["employee_number"] not in found.headers["location"]
    shown = await me.client.get(found.headers["location"])
    assert f'value="{person["id"]}" checked' in shown.text
    version = re.search(r'name="version" value="(\d+)"', shown.text)
    assert version
    r = await me.client.post(
        f"/devices/{asset['id']}/move",
        data={
            "csrf_token": csrf_of(shown.text),
            "to": "deployed",
            "person_id": str(person["id"]),
            "reason": "issued at the front desk",
            "version": version.group(1),
        },
    )
    assert r.status_code == 303 and r.headers["location"] == f"/devices/{asset['id']}"
    after = await me.client.get(r.headers["location"])
    assert f"is now deployed, issued to {person['display_name']}" in after.text
    timeline = after.text.split('id="timeline"', 1)[1]
    assert f'in stock → deployed, to <a href="/people/{person["id"]}">' in timeline
    assert "issued at the front desk" in timeline and me.account.email in timeline
    async with connection() as conn:
        actor = await conn.fetchval(
            "SELECT actor_name FROM event WHERE entity = 'asset' AND entity_id = $1"
            " AND action = 'transition'",
            asset["id"],
        )
    assert actor == f"user:{me.account.id}"


async def test_a_person_search_with_no_match_is_a_message(signed_in_as: SignedInFactory) -> None:
    leaver = await f.person(active=False, left_on=dt.date(2026, 1, 31))
    asset = await f.asset()
    me = await signed_in_as("engineer")
    page = await me.client.get(f"/devices/{asset['id']}")
    found = await me.client.post(
        f"/devices/{asset['id']}/people",
        data={"csrf_token": csrf_of(page.text), "person": leaver["employee_number"]},
    )
    shown = await me.client.get(found.headers["location"])
    assert f"No one still with the force matches “{leaver['employee_number']}”" in shown.text
    # A crafted issue to a leaver is refused beside the form, in words.
    r = await _move(me, asset["id"], to="deployed", person_id=str(leaver["id"]))
    assert r.status_code == 422 and "left the force on 31/01/2026" in r.text
    assert (await _status(asset["id"]))[0] == "in_stock"


async def test_a_stale_page_is_refused_never_overwritten(signed_in_as: SignedInFactory) -> None:
    asset = await f.asset()
    me = await signed_in_as("stores")
    opened = await me.client.get(f"/devices/{asset['id']}")
    other = await signed_in_as("engineer")
    assert (await _move(other, asset["id"], to="in_repair")).status_code == 303
    r = await me.client.post(
        f"/devices/{asset['id']}/move",
        data={
            "csrf_token": csrf_of(opened.text),
            "to": "lost",
            "reason": "reported lost",
            "version": str(asset["version"]),
        },
    )
    assert r.status_code == 412
    assert "Someone changed this device since you opened it" in r.text
    assert f'href="/devices/{asset["id"]}">Reload the page' in r.text
    assert (await _status(asset["id"]))[0] == "in_repair"


async def test_a_move_the_lifecycle_forbids_is_a_clear_message(
    signed_in_as: SignedInFactory,
) -> None:
    asset = await f.asset()
    me = await signed_in_as("admin")
    r = await _move(me, asset["id"], to="disposed", certificate_ref="WDC-1")
    assert r.status_code == 409
    assert "A device that is in stock cannot be moved to disposed of" in r.text
    assert "Nothing was changed" in r.text
    assert (await _status(asset["id"])) == ("in_stock", asset["version"])


async def test_disposal_needs_its_certificate_and_every_move_a_reason(
    signed_in_as: SignedInFactory,
) -> None:
    asset = await f.asset(status="retired", location_id=None)
    me = await signed_in_as("stores")
    r = await _move(me, asset["id"], to="disposed", certificate_ref="")
    assert r.status_code == 422
    assert 'id="field-disposed-certificate_ref-error"' in r.text
    assert "Give the waste disposal certificate reference." in r.text
    r = await _move(me, asset["id"], to="in_stock", reason="  ")
    assert r.status_code == 422 and "Say why the device is moving." in r.text
    r = await _move(me, asset["id"], to="disposed", certificate_ref="WDC-2026-0042")
    assert r.status_code == 303
    page = await me.client.get(f"/devices/{asset['id']}")
    assert "WDC-2026-0042" in page.text and "Move this device" not in page.text


async def test_return_to_stock_at_a_chosen_location(signed_in_as: SignedInFactory) -> None:
    person = await f.person()
    store = await f.location()
    asset = await f.asset(status="deployed", person_id=person["id"])
    me = await signed_in_as("stores")
    r = await _move(me, asset["id"], to="in_stock", location_id=str(store["id"]))
    assert r.status_code == 303
    page = await me.client.get(f"/devices/{asset['id']}")
    assert f"kept at {store['code']}" in page.text
    async with connection() as conn:
        row = await conn.fetchrow(
            "SELECT status, person_id, location_id FROM asset WHERE id = $1", asset["id"]
        )
    assert row is not None
    assert dict(row) == {"status": "in_stock", "person_id": None, "location_id": store["id"]}


async def test_the_pages_are_labelled_and_have_no_inline_script_or_style(
    signed_in_as: SignedInFactory,
) -> None:
    person = await f.person()
    asset = await f.asset()
    me = await signed_in_as("admin")
    page = await me.client.get(f"/devices/{asset['id']}")
    found = await me.client.post(
        f"/devices/{asset['id']}/people",
        data={"csrf_token": csrf_of(page.text), "person": person["employee_number"]},
    )
    refused = await _move(me, asset["id"], to="in_repair", reason="")
    for path, html in (
        ("/devices", (await me.client.get("/devices")).text),
        ("device", page.text),
        ("device with people found", (await me.client.get(found.headers["location"])).text),
        ("device with a refused move", refused.text),
    ):
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert "<style" not in html and " style=" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path
        ids = Counter(re.findall(r'\bid="([^"]+)"', html))
        assert not [i for i, n in ids.items() if n > 1], path
        for attrs in re.findall(r"<(?:input|select|textarea)\b([^>]*)>", html):
            if re.search(r'type="hidden"|\bhidden\b', attrs):
                continue
            named = re.search(r'\bid="([^"]+)"', attrs)
            assert named and f'<label for="{named.group(1)}"' in html, (path, attrs)
