"""The admin's users page: search without the e-mail in any URL, add, change a role,
disable and enable."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from db.engine import connection
from tests.web.conftest import PASSWORD, AccountFactory, SignedInFactory


async def test_a_search_keeps_the_email_out_of_the_url(
    signed_in_as: SignedInFactory, make_account: AccountFactory
) -> None:
    admin = await signed_in_as("admin")
    wanted = await make_account("mdm")
    r = await admin.post("/users/search", {"email": wanted.email.upper()})
    assert r.status_code == 303
    location = r.headers["location"]
    assert wanted.email.split("@")[0] not in location.lower() and "@" not in location
    handle = parse_qs(urlsplit(location).query)["search"][0]
    found = await admin.client.get(location)
    assert found.status_code == 200
    assert f'href="/users/{wanted.id}"' in found.text
    assert found.text.count('href="/users/') == 2  # its id and its e-mail, one row
    # The handle is this session's: in another admin's session it finds nothing.
    other = await signed_in_as("admin")
    r = await other.client.get(f"/users?search={handle}")
    assert r.status_code == 200 and "That search has ended" in r.text
    assert wanted.email not in r.text.split("<table")[0]


async def test_add_a_user_then_change_their_role_then_disable_and_enable(
    signed_in_as: SignedInFactory,
) -> None:
    admin = await signed_in_as("admin")
    email = f"new.starter.{admin.account.id}@force.example"
    r = await admin.post("/users", {"email": email, "role": "stores", "password": PASSWORD})
    assert r.status_code == 303
    page = await admin.client.get(r.headers["location"])
    user_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert email in page.text and f"User {user_id} created." in page.text
    r = await admin.post(f"/users/{user_id}/role", {"role": "finance"})
    assert r.status_code == 303
    assert "now has the role finance" in (await admin.client.get(f"/users/{user_id}")).text
    assert (await admin.post(f"/users/{user_id}/disable")).status_code == 303
    shown = (await admin.client.get(f"/users/{user_id}")).text
    assert "is disabled" in shown and "Enable the account" in shown
    assert (await admin.post(f"/users/{user_id}/enable")).status_code == 303
    async with connection() as conn:
        events = await conn.fetch(
            "SELECT action, actor_name, before::text, after::text FROM event"
            " WHERE entity = 'user' AND entity_id = $1 ORDER BY id",
            user_id,
        )
    assert [e["action"] for e in events] == ["created", "role_changed", "disabled", "enabled"]
    assert {e["actor_name"] for e in events} == {f"user:{admin.account.id}"}
    assert not any(email in (e["before"] or "") + (e["after"] or "") for e in events)


async def test_a_second_account_for_an_email_is_refused_beside_the_field(
    signed_in_as: SignedInFactory, make_account: AccountFactory
) -> None:
    admin = await signed_in_as("admin")
    taken = await make_account("auditor")
    r = await admin.post(
        "/users", {"email": taken.email.upper(), "role": "auditor", "password": PASSWORD}
    )
    assert r.status_code == 409
    assert "An account with this e-mail address already exists." in r.text
    assert 'id="field-email-error"' in r.text


async def test_a_crafted_role_is_refused(signed_in_as: SignedInFactory) -> None:
    admin = await signed_in_as("admin")
    r = await admin.post(f"/users/{admin.account.id}/role", {"role": "superuser"})
    assert r.status_code == 422 and "role must be one of" in r.text


async def test_a_long_search_is_paged_with_its_handle(signed_in_as: SignedInFactory) -> None:
    from db.engine import transaction

    admin = await signed_in_as("admin")
    tag = f"pager{admin.account.id}x"
    async with transaction() as conn:  # 60 accounts; their hash is never checked here
        await conn.executemany(
            "INSERT INTO app_user (email, password_hash, role) VALUES ($1, 'x', 'auditor')",
            [(f"{tag}.{n:02d}@force.example",) for n in range(60)],
        )
    r = await admin.post("/users/search", {"email": tag})
    first = await admin.client.get(r.headers["location"])
    assert first.text.count(f"{tag}.") == 50
    more = re.search(r'href="(/users\?search=[^"&]+&amp;cursor=[^"]+)"[^>]*rel="next"', first.text)
    assert more, "no next-page link"
    second = await admin.client.get(more.group(1).replace("&amp;", "&"))
    assert second.text.count(f"{tag}.") == 10
    assert f"{tag}.59@" in second.text and f"{tag}.00@" not in second.text
    assert 'rel="next"' not in second.text and "« First page" in second.text


async def test_an_admin_sets_a_forgotten_password(
    app: object, signed_in_as: SignedInFactory
) -> None:
    from tests.web.conftest import Account, page_client, sign_in

    admin = await signed_in_as("admin")
    forgetful = await signed_in_as("stores")
    r = await admin.post(f"/users/{forgetful.account.id}/password", {"password": "short"})
    assert r.status_code == 422 and 'id="field-password-error"' in r.text
    new = "amber bicycle over the river"
    r = await admin.post(f"/users/{forgetful.account.id}/password", {"password": new})
    assert r.status_code == 303
    assert (await forgetful.client.get("/account")).status_code == 303  # signed out
    async with page_client(app) as c:
        again = Account(forgetful.account.id, forgetful.account.email, "stores", new)
        assert (await sign_in(c, again)).status_code == 303
