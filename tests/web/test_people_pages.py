"""The people pages over ASGI: a search that keeps its term out of the address, the leaver
checklist (held now and before, each device linking to its page), and marking a leaver
through the API's own domain function: attributed to the user, version-checked, refused
for roles that may not."""

from __future__ import annotations

import re
from typing import Any

from db.engine import connection
from tests import factories
from tests.conftest import ClientFactory, unique
from tests.web.conftest import SignedIn, SignedInFactory, csrf_of


async def _search(me: SignedIn, term: str) -> Any:
    r = await me.post("/people/search", {"q": term})
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert term.lower() not in location.lower(), location
    assert re.fullmatch(r"/people\?search=[A-Za-z0-9_-]+", location), location
    return await me.client.get(location)


async def _issue_and_return(client_for: ClientFactory, asset_id: int, person_id: int) -> None:
    stores = await client_for("stores")
    url = f"/api/v1/assets/{asset_id}/transitions"
    r = await stores.post(url, json={"to": "deployed", "person_id": person_id, "reason": "issue"})
    assert r.status_code == 200, r.text
    r = await stores.post(url, json={"to": "in_stock", "reason": "handed back"})
    assert r.status_code == 200, r.text


async def test_a_search_finds_by_name_number_or_upn_without_the_term_in_the_address(
    signed_in_as: SignedInFactory,
) -> None:
    tag = unique()
    person = await factories.person(display_name=f"Robin Quist{tag}")
    me = await signed_in_as("finance")
    for term in (f"quist{tag}", person["employee_number"], person["upn"]):
        page = await _search(me, term)
        assert page.status_code == 200
        assert f'href="/people/{person["id"]}"' in page.text, term
        assert "No one matches" not in page.text
    # A page of all people, no search at all.
    listed = await me.client.get("/people")
    assert listed.status_code == 200 and "Find by name, employee number or UPN" in listed.text


async def test_a_search_with_no_match_says_so(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("engineer")
    term = f"nobody-{unique()}"
    page = await _search(me, term)
    assert page.status_code == 200
    assert f"No one matches “{term}”" in page.text
    # A handle from another session is not this one's: the page says the search has ended.
    other = await signed_in_as("engineer")
    again = await other.client.get(str(page.url))
    assert "That search has ended" in again.text


async def test_the_checklist_shows_what_they_hold_now_and_held_before(
    client_for: ClientFactory, signed_in_as: SignedInFactory
) -> None:
    unit = await factories.business_unit()
    person = await factories.person(business_unit_id=unit["id"])
    before = await factories.asset()
    await _issue_and_return(client_for, before["id"], person["id"])
    now = await factories.asset()
    stores = await client_for("stores")
    r = await stores.post(
        f"/api/v1/assets/{now['id']}/transitions",
        json={"to": "deployed", "person_id": person["id"], "reason": "issue"},
    )
    assert r.status_code == 200, r.text

    me = await signed_in_as("auditor")
    page = await me.client.get(f"/people/{person['id']}")
    assert page.status_code == 200, page.text
    held_now = page.text.split('id="holds-now"', 1)[1].split('id="held-before"', 1)[0]
    held_before = page.text.split('id="held-before"', 1)[1]
    assert f'href="/devices/{now["id"]}"' in held_now and now["serial_number"] in held_now
    assert f'href="/devices/{before["id"]}"' not in held_now
    assert f'href="/devices/{before["id"]}"' in held_before
    assert "handed back" in held_before
    assert unit["code"] in page.text and person["employee_number"] in page.text
    # The auditor reads; no leaver button.
    assert "Mark as a leaver" not in page.text
    missing = await me.client.get("/people/999999999")
    assert missing.status_code == 404 and "Not found" in missing.text


async def test_stores_mark_a_leaver_from_the_page(
    client_for: ClientFactory, signed_in_as: SignedInFactory
) -> None:
    person = await factories.person()
    phone = await factories.asset()
    stores = await client_for("stores")
    r = await stores.post(
        f"/api/v1/assets/{phone['id']}/transitions",
        json={"to": "deployed", "person_id": person["id"], "reason": "issue"},
    )
    assert r.status_code == 200, r.text
    me = await signed_in_as("stores")
    opened = await me.client.get(f"/people/{person['id']}")
    assert "Mark as a leaver" in opened.text
    version = re.search(r'name="version" value="(\d+)"', opened.text)
    assert version

    bad = await me.client.post(
        f"/people/{person['id']}/leaver",
        data={"csrf_token": csrf_of(opened.text), "version": version[1], "left_on": "31/02/x"},
    )
    assert bad.status_code == 422 and "a date like 2026-12-03" in bad.text

    done = await me.client.post(
        f"/people/{person['id']}/leaver",
        data={"csrf_token": csrf_of(opened.text), "version": version[1], "left_on": "2026-11-30"},
    )
    assert done.status_code == 303, done.text
    shown = await me.client.get(done.headers["location"])
    assert "Marked as a leaver from 30 Nov 2026." in shown.text
    assert "leaver since 30 Nov 2026" in shown.text
    assert "1 device to recover" in shown.text and "Mark as a leaver" not in shown.text
    # Their recovery case opened with the leaving, the phone its one open line.
    case = shown.text.split('id="recovery"', 1)[1].split('id="holds-now"', 1)[0]
    assert "Recovery case" in case and "1 of 1 device" in case
    assert f'href="/devices/{phone["id"]}"' in case and ">open<" in case
    async with connection() as conn:
        event = await conn.fetchrow(
            "SELECT actor_name, actor_role FROM event WHERE entity = 'person' AND entity_id = $1"
            " AND action = 'updated' ORDER BY id DESC LIMIT 1",
            person["id"],
        )
    assert event is not None
    assert dict(event) == {"actor_name": f"user:{me.account.id}", "actor_role": "stores"}

    # The page opened before the change is stale now: refused, nothing saved.
    stale = await me.client.post(
        f"/people/{person['id']}/leaver",
        data={"csrf_token": csrf_of(opened.text), "version": version[1], "left_on": "2026-10-01"},
    )
    assert stale.status_code == 412 and "Someone changed this since you opened it" in stale.text
    api = await client_for("auditor")
    assert (await api.get(f"/api/v1/people/{person['id']}")).json()["left_on"] == "2026-11-30"

    # The leaver is on the list of leavers still holding devices.
    leavers = await me.client.get("/people?view=leavers")
    assert f'href="/people/{person["id"]}"' in leavers.text


async def test_roles_that_may_not_mark_a_leaver_are_refused(
    signed_in_as: SignedInFactory,
) -> None:
    person = await factories.person()
    for role in ("engineer", "finance", "mdm", "auditor"):
        me = await signed_in_as(role)
        opened = await me.client.get(f"/people/{person['id']}")
        assert "Mark as a leaver" not in opened.text
        r = await me.post(f"/people/{person['id']}/leaver", {"version": "1"})
        assert r.status_code == 403, role
    admin = await signed_in_as("admin")
    assert "Mark as a leaver" in (await admin.client.get(f"/people/{person['id']}")).text
    # Without the form token, even stores are refused.
    stores = await signed_in_as("stores")
    r = await stores.client.post(f"/people/{person['id']}/leaver", data={"version": "1"})
    assert r.status_code == 403


async def test_a_search_pages_on_with_its_handle_not_its_term(
    signed_in_as: SignedInFactory,
) -> None:
    tag = unique()
    made = [await factories.person(display_name=f"Sam Pager{tag} {n:02d}") for n in range(52)]
    me = await signed_in_as("stores")
    first = await _search(me, f"pager{tag}")
    ids = re.findall(r'href="/people/(\d+)"', first.text)
    assert len(ids) == 50
    following = re.search(
        r'href="(/people\?search=[^"&]+&amp;cursor=[^"]+)" rel="next"', first.text
    )
    assert following, "no next page link"
    assert tag.lower() not in following[1].lower()
    second = await me.client.get(following[1].replace("&amp;", "&"))
    rest = re.findall(r'href="/people/(\d+)"', second.text)
    assert sorted(map(int, ids + rest)) == sorted(p["id"] for p in made)
    assert "« First page" in second.text
