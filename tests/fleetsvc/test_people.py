"""Many people at once (an HR feed, the demo): the checks of one person, set-based."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from db.engine import connection, transaction
from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict, ValidationFailed
from fleetsvc.people import PersonCreate, create_people, get_person
from tests import factories
from tests.conftest import unique

ACTOR = Actor("tests", "admin")


def _person(n: str, **kw: Any) -> PersonCreate:
    values: dict[str, Any] = {
        "employee_number": f" e{n.lower()} ",
        "upn": f"A.Smith{n}@Force.Police.UK",
        "display_name": f" Alex Smith {n} ",
        **kw,
    }
    return PersonCreate(**values)


async def _count(employee_numbers: list[str]) -> int:
    async with connection() as conn:
        found: int = await conn.fetchval(
            "SELECT count(*) FROM person WHERE employee_number = ANY($1)", employee_numbers
        )
    return found


async def test_people_are_created_tidied_in_order_with_their_events(app: object) -> None:
    bu = await factories.business_unit()
    ns = [unique() for _ in range(3)]
    items = [
        _person(ns[0], business_unit_id=bu["id"], kind="staff"),
        _person(ns[1], upn=None),
        _person(ns[2], active=False),
    ]
    async with transaction() as conn:
        ids = await create_people(conn, ACTOR, items)
        people = [await get_person(conn, i) for i in ids]
    assert [p.employee_number for p in people] == [f"E{n.upper()}" for n in ns]
    assert people[0].upn == f"a.smith{ns[0].lower()}@force.police.uk"
    assert people[0].display_name == f"Alex Smith {ns[0]}"
    assert (people[0].business_unit_id, people[0].kind) == (bu["id"], "staff")
    assert (people[1].upn, people[1].kind, people[1].business_unit_id) == (None, "officer", None)
    # A leaver's leaving date defaults to today, as it does for one person.
    assert (people[2].active, people[2].left_on) == (False, dt.date.today())
    assert all(p.version == 1 for p in people)

    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT id, entity_id, action, before, after FROM event WHERE entity = 'person'"
            " AND entity_id = ANY($1) ORDER BY entity_id",
            ids,
        )
        events = await audit.decode_events(conn, rows)
    assert [(e["entity_id"], e["action"]) for e in events] == [(i, "created") for i in ids]
    # The audit trail reads the value back; the event row itself holds only a reference.
    assert events[0]["after"]["employee_number"] == f"E{ns[0].upper()}"
    assert f"E{ns[0].upper()}" not in rows[0]["after"]


async def test_every_problem_of_every_item_is_named_and_nothing_is_written(app: object) -> None:
    # Each item's problems carry the messages one person's would, under the item's index.
    ns = [unique() for _ in range(3)]
    items = [
        _person(ns[0]),
        _person(ns[1], display_name=" ", business_unit_id=999_999_999),
        _person(ns[2], upn="not an address", kind="sergeant"),
    ]
    with pytest.raises(ValidationFailed) as failed:
        async with transaction() as conn:
            await create_people(conn, ACTOR, items)
    assert [(p.field, p.message) for p in failed.value.problems] == [
        ("people.1.display_name", "display_name must not be empty"),
        ("people.1.business_unit_id", "no business unit with id 999999999"),
        ("people.2.upn", "upn must look like an e-mail address, such as a.smith@force.police.uk"),
        ("people.2.kind", "kind must be one of: officer, staff, special_constable"),
    ]
    assert await _count([f"E{n.upper()}" for n in ns]) == 0


async def test_a_number_given_twice_is_422_and_one_that_exists_is_409(app: object) -> None:
    n = unique()
    twice = [_person(n), _person(unique(), employee_number=f"E{n}".lower())]
    with pytest.raises(ValidationFailed) as failed:
        async with transaction() as conn:
            await create_people(conn, ACTOR, twice)
    assert [(p.field, p.message) for p in failed.value.problems] == [
        ("people.1.employee_number", f"employee_number E{n.upper()} is also given at people.0")
    ]

    existing = await factories.person()
    clash = [_person(unique()), _person(unique(), upn=existing["upn"].upper())]
    with pytest.raises(Conflict) as conflict:
        async with transaction() as conn:
            await create_people(conn, ACTOR, clash)
    assert conflict.value.existing_id == existing["id"]
    assert await _count([clash[0].employee_number.strip().upper()]) == 0


async def test_no_people_is_no_work(app: object) -> None:
    async with transaction() as conn:
        assert await create_people(conn, ACTOR, []) == []
