"""People: who holds devices (employee number, UPN, business unit, kind, leaver).

One person at a time through the API (``create_person``), or many at once with the
same checks, set-based (``create_people``: the demo's 45,000; the HR feed is an import,
``fleetsvc.imports.plan_people``). A person who becomes a leaver (``update_person``, which
the API and the pages call) has a recovery case opened for the devices they hold; one who
comes back has it cancelled.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Container, Sequence
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Final, TypeVar

import asyncpg
import msgspec

from fleetsvc.auth import Actor
from fleetsvc.business_units import BU_TABLE
from fleetsvc.checks import (
    CONTROL,
    SPACE,
    SPACE_CHARACTERS,
    Problems,
    RegisterDay,
    check_each,
    choice,
    day,
    documented_text,
    existing_ids,
    filter_choice,
    given_once,
    known_id,
    like_pattern,
    text,
)
from fleetsvc.errors import Conflict
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import (
    Filters,
    RecordRef,
    changes_of,
    check_id,
    get_record,
    insert_record,
    insert_records,
    list_page,
    struct_of,
    update_record,
    value_or_none,
)
from fleetsvc.recoveries.cases import cancel_cases, open_cases
from fleetsvc.vocabulary import PersonKind, documented, one_of

PERSON_TABLE = "person"
PERSON_ENTITY = "person"
# A UPN is written like an e-mail address: one @, no spaces, a dotted domain.
_UPN = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_UPN_PART = f"[^@.{SPACE_CHARACTERS}{CONTROL}]+"
Upn = Annotated[
    str,
    documented(
        maxLength=254,
        pattern=f"^{SPACE}*[^@{SPACE_CHARACTERS}{CONTROL}]+@{_UPN_PART}(?:\\.{_UPN_PART})+{SPACE}*$",
    ),
]
EmployeeNumber = Annotated[str, documented_text(32)]
DisplayName = Annotated[str, documented_text(200)]
# The columns a new person is written with, and their SQL types (for the bulk INSERT).
_COLUMNS = {
    "employee_number": "text",
    "display_name": "text",
    "upn": "text",
    "business_unit_id": "int",
    "kind": "text",
    "active": "bool",
    "left_on": "date",
}


# A person's own fields, in the order a record lists them: what their ``created`` event
# holds and what a subject-access answer shows of the record.
RECORD_FIELDS: Final = (
    "employee_number",
    "display_name",
    "upn",
    "business_unit_id",
    "kind",
    "active",
    "left_on",
)


class Person(msgspec.Struct):
    id: int
    employee_number: str
    upn: str | None
    display_name: str
    business_unit_id: int | None
    kind: Annotated[str, one_of(PersonKind)]
    active: bool
    left_on: date | None
    version: int
    created_at: datetime
    updated_at: datetime


class PersonCreate(msgspec.Struct, forbid_unknown_fields=True):
    employee_number: EmployeeNumber
    display_name: DisplayName
    upn: Upn | None = None
    business_unit_id: RecordRef | None = None
    kind: Annotated[str, one_of(PersonKind)] = "officer"
    active: bool = True
    left_on: RegisterDay | None = None

    # left_on only for a leaver (active false); in the OpenAPI document (api.bodies).
    OPENAPI_ALL_OF: ClassVar[list[dict[str, Any]]] = [
        {
            "anyOf": [
                {"required": ["active"], "properties": {"active": {"const": False}}},
                {"properties": {"left_on": {"type": "null"}}},
            ]
        }
    ]


# {"active": false} marks a leaver.
class PersonUpdate(msgspec.Struct, forbid_unknown_fields=True):
    employee_number: EmployeeNumber | msgspec.UnsetType = msgspec.UNSET
    display_name: DisplayName | msgspec.UnsetType = msgspec.UNSET
    upn: Upn | msgspec.UnsetType | None = msgspec.UNSET
    business_unit_id: RecordRef | msgspec.UnsetType | None = msgspec.UNSET
    kind: Annotated[str, one_of(PersonKind)] | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    left_on: RegisterDay | msgspec.UnsetType | None = msgspec.UNSET

    # A leaving date with "active": true is refused (api.bodies states it). One sent
    # without "active" is checked against the stored person: no schema can state that.
    OPENAPI_ALL_OF: ClassVar[list[dict[str, Any]]] = [
        {
            "anyOf": [
                {"properties": {"active": {"const": False}}},
                {"properties": {"left_on": {"type": "null"}}},
            ]
        }
    ]


# A person as created, or the fields a change sets: checked the same way.
P = TypeVar("P", PersonCreate, PersonUpdate)


def _checked(p: Problems, data: P, units: Container[int], current: Person | None = None) -> P:
    """A person's fields checked and tidied (for a change, those it sets); ``units`` are
    the business units that exist among those named."""
    tidied: dict[str, object] = {}
    if isinstance(data.employee_number, str):
        tidied["employee_number"] = text(
            p, "employee_number", data.employee_number, max_len=32
        ).upper()
    if isinstance(data.upn, str):
        upn = tidied["upn"] = text(p, "upn", data.upn, max_len=254).lower()
        if upn and not _UPN.fullmatch(upn):
            p.add("upn", "upn must look like an e-mail address, such as a.smith@force.police.uk")
    if isinstance(data.display_name, str):
        tidied["display_name"] = text(p, "display_name", data.display_name, max_len=200)
    if isinstance(data.kind, str):
        choice(p, "kind", data.kind, PersonKind)
    if not isinstance(data.business_unit_id, msgspec.UnsetType):
        known_id(p, "business_unit_id", "business unit", data.business_unit_id, units)
    day(p, "left_on", value_or_none(data.left_on))
    return msgspec.structs.replace(data, **tidied, **_leaver_dates(p, data, current))


def _leaver_dates(p: Problems, data: P, current: Person | None) -> dict[str, dt.date | None]:
    """A leaver has a leaving date (today unless given); someone active has none."""
    active = data.active
    if isinstance(active, msgspec.UnsetType):
        active = current.active if current is not None else True
    left_on = data.left_on
    if isinstance(left_on, msgspec.UnsetType):
        left_on = current.left_on if current else None
    if active:
        if value_or_none(data.left_on) is not None:
            p.add("left_on", "left_on can only be set when active is false (a leaver)")
        elif left_on is not None:
            return {"left_on": None}  # rejoined
    elif left_on is None:
        return {"left_on": dt.date.today()}
    return {}


async def _check_person(conn: asyncpg.Connection, data: P, current: Person | None = None) -> P:
    p = Problems()
    units = await existing_ids(conn, BU_TABLE, [value_or_none(data.business_unit_id)])
    checked = _checked(p, data, units, current)
    p.raise_if_any()
    return checked


async def create_person(conn: asyncpg.Connection, actor: Actor, data: PersonCreate) -> Person:
    checked = await _check_person(conn, data)
    row = await insert_record(
        conn,
        actor,
        table=PERSON_TABLE,
        entity=PERSON_ENTITY,
        values=msgspec.structs.asdict(checked),
    )
    return struct_of(Person, row)


async def create_people(
    conn: asyncpg.Connection, actor: Actor, items: Sequence[PersonCreate]
) -> list[int]:
    """Create many people with ``create_person``'s checks, set-based: every problem of
    every item at once (fields named ``people.3.upn``), then one INSERT and one COPY of
    their ``created`` events. The new ids come back in the order of ``items``; an employee
    number or UPN given twice is a 422, one that exists already a 409 naming the person."""
    p = Problems()
    units = await existing_ids(conn, BU_TABLE, (item.business_unit_id for item in items))
    checked: list[PersonCreate] = []
    check_each(p, "people", items, lambda p, item: checked.append(_checked(p, item, units)))
    rows = [msgspec.structs.asdict(item) for item in checked]
    given_once(p, rows, "people", ("employee_number", "upn"))
    p.raise_if_any()
    return await insert_records(
        conn,
        actor,
        table=PERSON_TABLE,
        entity=PERSON_ENTITY,
        types=_COLUMNS,
        rows=[{c: r[c] for c in _COLUMNS} for r in rows],
        key="employee_number",
    )


async def get_person(conn: asyncpg.Connection, person_id: int) -> Person:
    check_id(PERSON_ENTITY, person_id)
    return struct_of(Person, await get_record(conn, PERSON_TABLE, PERSON_ENTITY, person_id))


async def update_person(
    conn: asyncpg.Connection,
    actor: Actor,
    person_id: int,
    changes: PersonUpdate,
    expected_version: int | None,
) -> Person:
    check_id(PERSON_ENTITY, person_id)
    current = await get_record(conn, PERSON_TABLE, PERSON_ENTITY, person_id, for_update=True)
    if current["pseudonymised_at"] is not None:
        raise Conflict(
            f"person {person_id} was pseudonymised under the retention rule; their record"
            " can no longer be changed"
        )
    row = await update_record(
        conn,
        actor,
        table=PERSON_TABLE,
        entity=PERSON_ENTITY,
        record_id=person_id,
        changes=changes_of(await _check_person(conn, changes, struct_of(Person, current))),
        expected_version=expected_version,
    )
    if current["active"] and not row["active"]:
        # A leaver: a recovery case lists the devices they hold, in this transaction.
        await open_cases(conn, actor, [person_id])
    elif row["active"] and not current["active"]:
        # Back in post: their open case no longer counts (cancelled, reason returned).
        await cancel_cases(conn, actor, [person_id])
    return struct_of(Person, row)


async def list_people(
    conn: asyncpg.Connection,
    page: PageRequest,
    *,
    employee_number: str | None = None,
    upn: str | None = None,
    business_unit: str | None = None,
    kind: str | None = None,
    active: bool | None = None,
    q: str | None = None,
) -> Page[Person]:
    f = Filters()
    if employee_number is not None:
        f.add("employee_number = {}", employee_number.strip().upper())
    if upn is not None:
        f.add("lower(upn) = {}", upn.strip().lower())
    if business_unit is not None:
        f.add(
            "business_unit_id = (SELECT id FROM business_unit WHERE code = {})",
            business_unit.strip().upper(),
        )
    if kind is not None:
        f.add("kind = {}", filter_choice("kind", kind, PersonKind))
    if active is not None:
        f.add("active = {}", active)
    if q and q.strip():
        f.add(
            "(display_name ILIKE {0} OR employee_number ILIKE {1} OR upn ILIKE {0})",
            like_pattern(q),
            like_pattern(q.upper(), prefix=True),
        )
    found = await list_page(conn, f"SELECT * FROM {PERSON_TABLE}", f, page)
    return Page([struct_of(Person, r) for r in found.items], found.next_cursor)
