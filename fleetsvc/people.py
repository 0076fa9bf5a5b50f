"""People: who holds devices (employee number, UPN, business unit, kind, leaver)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import asyncpg

from fleetsvc.auth import Actor
from fleetsvc.business_units import BU_TABLE
from fleetsvc.checks import Problems, choice, day, existing_id, filter_choice, like_pattern, text
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import Filters, check_id, get_record, insert_record, list_page, update_record
from fleetsvc.vocabulary import PersonKind

PERSON_TABLE = "person"
PERSON_ENTITY = "person"
# A UPN is written like an e-mail address: one @, no spaces, a dotted domain.
_UPN = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")


async def _check_person(
    conn: asyncpg.Connection, values: Mapping[str, Any], current: asyncpg.Record | None = None
) -> dict[str, Any]:
    out = dict(values)
    p = Problems()
    if "employee_number" in out:
        out["employee_number"] = text(p, "employee_number", out["employee_number"], max_len=32)
        out["employee_number"] = out["employee_number"].upper()
    if "upn" in out and out["upn"] is not None:
        out["upn"] = text(p, "upn", out["upn"], max_len=254).lower()
        if out["upn"] and not _UPN.fullmatch(out["upn"]):
            p.add("upn", "upn must look like an e-mail address, such as a.smith@force.police.uk")
    if "display_name" in out:
        out["display_name"] = text(p, "display_name", out["display_name"], max_len=200)
    if "kind" in out:
        choice(p, "kind", out["kind"], PersonKind)
    if "business_unit_id" in out:
        await existing_id(
            conn, p, "business_unit_id", BU_TABLE, "business unit", out["business_unit_id"]
        )
    day(p, "left_on", out.get("left_on"))
    _leaver_dates(p, out, current)
    p.raise_if_any()
    return out


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


async def create_person(
    conn: asyncpg.Connection, actor: Actor, values: Mapping[str, Any]
) -> asyncpg.Record:
    checked = await _check_person(conn, values)
    return await insert_record(
        conn, actor, table=PERSON_TABLE, entity=PERSON_ENTITY, values=checked
    )


async def get_person(conn: asyncpg.Connection, person_id: int) -> asyncpg.Record:
    check_id(PERSON_ENTITY, person_id)
    return await get_record(conn, PERSON_TABLE, PERSON_ENTITY, person_id)


async def update_person(
    conn: asyncpg.Connection,
    actor: Actor,
    person_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None,
) -> asyncpg.Record:
    check_id(PERSON_ENTITY, person_id)
    current = await get_record(conn, PERSON_TABLE, PERSON_ENTITY, person_id, for_update=True)
    return await update_record(
        conn,
        actor,
        table=PERSON_TABLE,
        entity=PERSON_ENTITY,
        record_id=person_id,
        changes=await _check_person(conn, changes, current),
        expected_version=expected_version,
    )


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
) -> Page[asyncpg.Record]:
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
    return await list_page(conn, f"SELECT * FROM {PERSON_TABLE}", f, page)
