"""Retention after the HR people feed: a leaver the feed created, whose rows a later preview
still stages and a later commit rejected (forename, surname, NI number, date of birth as
uploaded), is held nowhere in clear once pseudonymised. Runs where the ``hr-people``
profile exists (branch hr-people)."""

from __future__ import annotations

import pytest

from db.engine import connection, transaction
from fleetsvc.auth import Actor
from fleetsvc.subject_access import retention
from tests import factories
from tests.conftest import ClientFactory, unique
from tests.fleetsvc.subject_access.test_retention import held_anywhere

feed_tests = pytest.importorskip("tests.api.test_imports_people")
ADMIN = Actor("tests", "admin")


async def test_a_feed_leaver_is_held_nowhere_in_clear_once_pseudonymised(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    bu = await factories.business_unit()
    n = unique()
    forename, surname, ni = f"Aoife{n}", f"Brennan{n}", f"QQ{n[:6]}C"
    row = feed_tests.person_row(
        bu,
        **{
            "Forenames": forename,
            "Surname": surname,
            "NI Number": ni,
            # Within the retention period: a feed creates nobody who left before it.
            "Leaving Date": "31/01/2024",
        },
    )
    committed = await feed_tests.feed(stores, [row], mode="commit")
    assert committed["status"] == "committed", committed
    person = await feed_tests.person_of(row["Employee No"])
    assert person is not None and not person["active"]
    # A later commit rejects their row (an unknown unit); a later preview stages it again.
    rejected = await feed_tests.feed(
        stores, [{**row, "Org Unit Code": "NOPE"}, feed_tests.person_row(bu)], mode="commit"
    )
    assert rejected["counts"]["rejected"] == 1, rejected
    preview = await feed_tests.feed(stores, [row])
    assert preview["status"] == "previewed"
    values = [forename, surname, ni, row["Work Email"], row["Employee No"]]
    async with connection() as conn:
        assert await held_anywhere(conn, values)  # the test sees them first

    async with transaction() as conn:
        assert (await retention.pseudonymise(conn, ADMIN, [person["id"]])).people == 1
    async with connection() as conn:
        assert await held_anywhere(conn, values) == []
    r = await stores.post(f"/api/v1/imports/{preview['id']}/commit")
    assert r.status_code == 409 and "no longer staged" in r.json()["detail"], r.text
