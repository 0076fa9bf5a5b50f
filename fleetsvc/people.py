"""People: who holds devices (employee number, UPN, business unit, kind, leaver).

One person at a time through the API (``create_person``), or many at once with the
same checks, set-based (``create_people``: the demo's 45,000; the HR feed is an import,
``fleetsvc.imports.plan_people``). A person who becomes a leaver (``update_person``, which
the API and the pages call) has a recovery case opened for the devices they hold.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Container, Mapping, Sequence
from datetime import date, datetime
from typing import Annotated, Any

import asyncpg
import msgspec

from fleetsvc.auth import Actor
from fleetsvc.business_units import BU_TABLE
from fleetsvc.checks import (
    Problems,
    check_each,
    choice,
    day,
    existing_ids,
    filter_choice,
    given_once,
    known_id,
    like_pattern,
    text,
)
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import (
    Filters,
    changes_of,
    check_id,
    get_record,
    insert_record,
    insert_records,
    list_page,
    struct_of,
    update_record,
)
from fleetsvc.recoveries.cases import open_cases
from fleetsvc.vocabulary import PersonKind, one_of

PERSON_TABLE = "person"
PERSON_ENTITY = "person"
# A UPN is written like an e-mail address: one @, no spaces, a dotted domain.
_UPN = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
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
    employee_number: str
    display_name: str
    upn: str | None = None
    business_unit_id: int | None = None
    kind: Annotated[str, one_of(PersonKind)] = "officer"
    active: bool = True
    left_on: date | None = None


# {"active": false} marks a leaver.
class PersonUpdate(msgspec.Struct, forbid_unknown_fields=True):
    employee_number: str | msgspec.UnsetType = msgspec.UNSET
    display_name: str | msgspec.UnsetType = msgspec.UNSET
    upn: str | msgspec.UnsetType | None = msgspec.UNSET
    business_unit_id: int | msgspec.UnsetType | None = msgspec.UNSET
    kind: Annotated[str, one_of(PersonKind)] | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    left_on: date | msgspec.UnsetType | None = msgspec.UNSET


def _check_fields(
    p: Problems,
    out: dict[str, Any],
    units: Container[int],
    current: asyncpg.Record | None = None,
) -> None:
    """Check and tidy a person's fields in place; ``units`` are the business units that
    exist among those named."""
    if "employee_number" in out:
        out["employee_number"] = text(
            p, "employee_number", out["employee_number"], max_len=32
        ).upper()
    if "upn" in out and out["upn"] is not None:
        out["upn"] = text(p, "upn", out["upn"], max_len=254).lower()
        if out["upn"] and not _UPN.fullmatch(out["upn"]):
            p.add("upn", "upn must look like an e-mail address, such as a.smith@force.police.uk")
    if "display_name" in out:
        out["display_name"] = text(p, "display_name", out["display_name"], max_len=200)
    if "kind" in out:
        choice(p, "kind", out["kind"], PersonKind)
    if "business_unit_id" in out:
        known_id(p, "business_unit_id", "business unit", out["business_unit_id"], units)
    day(p, "left_on", out.get("left_on"))
    _leaver_dates(p, out, current)


def _leaver_dates(p: Problems, out: dict[str, Any], current: asyncpg.Record | None) -> None:
    """A leaver has a leaving date (today unless given); someone active has none."""
    active = out.get("active", current["active"] if current is not None else True)
    left_on = out["left_on"] if "left_on" in out else (current["left_on"] if current else None)
    if active:
        if out.get("left_on") is not None:
            p.add("left_on", "left_on can only be set when active is false (a leaver)")
        elif left_on is not None:
            out["left_on"] = None  # rejoined
    elif left_on is None:
        out["left_on"] = dt.date.today()


async def _check_person(
    conn: asyncpg.Connection, values: Mapping[str, Any], current: asyncpg.Record | None = None
) -> dict[str, Any]:
    out = dict(values)
    p = Problems()
    units = await existing_ids(conn, BU_TABLE, [out.get("business_unit_id")])
    _check_fields(p, out, units, current)
    p.raise_if_any()
    return out


async def create_person(conn: asyncpg.Connection, actor: Actor, data: PersonCreate) -> Person:
    checked = await _check_person(conn, msgspec.structs.asdict(data))
    row = await insert_record(conn, actor, table=PERSON_TABLE, entity=PERSON_ENTITY, values=checked)
    return struct_of(Person, row)


async def create_people(
    conn: asyncpg.Connection, actor: Actor, items: Sequence[PersonCreate]
) -> list[int]:
    """Create many people with ``create_person``'s checks, set-based: every problem of
    every item at once (fields named ``people.3.upn``), then one INSERT and one COPY of
    their ``created`` events. The new ids come back in the order of ``items``; an employee
    number or UPN given twice is a 422, one that exists already a 409 naming the person."""
    rows = [msgspec.structs.asdict(item) for item in items]
    p = Problems()
    units = await existing_ids(conn, BU_TABLE, (r["business_unit_id"] for r in rows))
    check_each(p, "people", rows, lambda p, row: _check_fields(p, row, units))
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
    row = await update_record(
        conn,
        actor,
        table=PERSON_TABLE,
        entity=PERSON_ENTITY,
        record_id=person_id,
        changes=await _check_person(conn, changes_of(changes), current),
        expected_version=expected_version,
    )
    if current["active"] and not row["active"]:
        # A leaver: a recovery case lists the devices they hold, in this transaction.
        await open_cases(conn, actor, [person_id])
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
