"""Business units (the BCUs and OCUs): the units people and vehicles belong to."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, TypeVar

import asyncpg
import msgspec

from fleetsvc.auth import Actor
from fleetsvc.checks import SPACE, cell_text, documented_cell_text
from fleetsvc.errors import FieldProblem, ValidationFailed
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import (
    Filters,
    changes_of,
    get_record,
    insert_record,
    list_page,
    struct_of,
    update_record,
)
from fleetsvc.vocabulary import documented
from importers.fields import FieldError

BU_TABLE = "business_unit"
BU_ENTITY = "business_unit"


class BusinessUnit(msgspec.Struct):
    id: int
    code: str
    name: str
    version: int
    created_at: datetime
    updated_at: datetime


# A code once trimmed and upper-cased: 1 to 16 letters, digits or dashes, not dashes only.
_CODE = re.compile(r"[A-Z0-9-]{0,15}[A-Z0-9][A-Z0-9-]{0,15}")
MAX_CODE = 16
# The document bounds the trimmed code, as the service counts it (a maxLength would count
# the spaces around it: make fuzz sent 16 characters and a space, and the service took
# them): one alternative for each place the first letter or digit can be in.
_TRIMMED_CODE = "|".join(
    f"{'-' * dashes}[A-Za-z0-9][A-Za-z0-9-]{{0,{MAX_CODE - 1 - dashes}}}"
    for dashes in range(MAX_CODE)
)
Code = Annotated[str, documented(pattern=f"^{SPACE}*(?:{_TRIMMED_CODE}){SPACE}*$")]
Name = Annotated[str, documented_cell_text(200)]


class BusinessUnitCreate(msgspec.Struct, forbid_unknown_fields=True):
    code: Code
    name: Name


class BusinessUnitUpdate(msgspec.Struct, forbid_unknown_fields=True):
    code: Code | msgspec.UnsetType = msgspec.UNSET
    name: Name | msgspec.UnsetType = msgspec.UNSET


B = TypeVar("B", BusinessUnitCreate, BusinessUnitUpdate)


def _check_business_unit(data: B) -> B:
    tidied: dict[str, str] = {}
    problems = []
    if isinstance(data.code, str):
        code = tidied["code"] = data.code.strip().upper()
        if len(code) > MAX_CODE or not _CODE.fullmatch(code):
            problems.append(FieldProblem("code", "code must be 1 to 16 letters, digits or dashes"))
    if isinstance(data.name, str):
        try:
            name = tidied["name"] = cell_text(data.name, 200)
        except FieldError as exc:
            problems.append(FieldProblem("name", exc.message))
        else:
            if not name:
                problems.append(FieldProblem("name", "name must be 1 to 200 characters"))
    if problems:
        raise ValidationFailed(problems)
    return msgspec.structs.replace(data, **tidied)


async def create_business_unit(
    conn: asyncpg.Connection, actor: Actor, data: BusinessUnitCreate
) -> BusinessUnit:
    values = msgspec.structs.asdict(_check_business_unit(data))
    row = await insert_record(conn, actor, table=BU_TABLE, entity=BU_ENTITY, values=values)
    return struct_of(BusinessUnit, row)


async def get_business_unit(conn: asyncpg.Connection, bu_id: int) -> BusinessUnit:
    return struct_of(BusinessUnit, await get_record(conn, BU_TABLE, BU_ENTITY, bu_id))


async def update_business_unit(
    conn: asyncpg.Connection,
    actor: Actor,
    bu_id: int,
    changes: BusinessUnitUpdate,
    expected_version: int | None,
) -> BusinessUnit:
    row = await update_record(
        conn,
        actor,
        table=BU_TABLE,
        entity=BU_ENTITY,
        record_id=bu_id,
        changes=changes_of(_check_business_unit(changes)),
        expected_version=expected_version,
    )
    return struct_of(BusinessUnit, row)


async def list_business_units(
    conn: asyncpg.Connection, page: PageRequest, *, code: str | None = None, q: str | None = None
) -> Page[BusinessUnit]:
    f = Filters()
    if code is not None:
        f.add("code = {}", code.strip().upper())
    if q:
        f.add("(code ILIKE {0} OR name ILIKE {0})", f"%{q.strip()}%")
    found = await list_page(conn, f"SELECT * FROM {BU_TABLE}", f, page)
    return Page([struct_of(BusinessUnit, r) for r in found.items], found.next_cursor)
