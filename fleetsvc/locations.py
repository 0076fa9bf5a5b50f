"""Locations: the stores and stations where devices no one holds are kept (in stock, in
repair, awaiting rebuild), each with a code, a name and optionally the business unit it
serves. Deliveries arrive at one; a stocktake counts one.

``FLEETSVC_DEFAULT_LOCATION`` names the location a move or a delivery goes to when it
names none (``default_location_id``); the migration that brought locations made it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, TypeVar

import asyncpg
import msgspec

from fleetsvc.auth import Actor
from fleetsvc.checks import SPACE, Problems, documented_text, existing_id, like_pattern, text
from fleetsvc.errors import FieldProblem, NotFound, ValidationFailed
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import (
    MAX_ID,
    Filters,
    RecordId,
    changes_of,
    get_record,
    insert_record,
    list_page,
    struct_of,
    update_record,
)
from fleetsvc.settings import get_settings
from fleetsvc.vocabulary import documented

LOCATION_TABLE = "location"
LOCATION = "location"
# The database's location_code_chk says the same.
_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")
Code = Annotated[
    str, documented(maxLength=32, pattern=f"^{SPACE}*[A-Za-z0-9][A-Za-z0-9-]{{0,31}}{SPACE}*$")
]
Name = Annotated[str, documented_text(200)]


class Location(msgspec.Struct):
    id: int
    code: str
    name: str
    business_unit_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime


class LocationCreate(msgspec.Struct, forbid_unknown_fields=True):
    code: Code
    name: Name
    business_unit_id: RecordId | None = None


class LocationUpdate(msgspec.Struct, forbid_unknown_fields=True):
    code: Code | msgspec.UnsetType = msgspec.UNSET
    name: Name | msgspec.UnsetType = msgspec.UNSET
    business_unit_id: RecordId | msgspec.UnsetType | None = msgspec.UNSET


def location_code(value: str) -> str:
    """A code as locations keep it: trimmed and upper-cased (``stn-north`` is ``STN-NORTH``)."""
    return value.strip().upper()


L = TypeVar("L", LocationCreate, LocationUpdate)


async def _check(conn: asyncpg.Connection, data: L) -> L:
    tidied: dict[str, str] = {}
    p = Problems()
    if isinstance(data.code, str):
        code = tidied["code"] = location_code(data.code)
        # 32 characters as sent (the document's maxLength), spaces around included.
        if len(data.code) > 32 or not _CODE.fullmatch(code):
            p.add("code", "code must be 1 to 32 letters, digits or dashes, starting with one")
    if isinstance(data.name, str):
        tidied["name"] = text(p, "name", data.name, max_len=200)
    if not isinstance(data.business_unit_id, msgspec.UnsetType):
        await existing_id(
            conn, p, "business_unit_id", "business_unit", "business unit", data.business_unit_id
        )
    p.raise_if_any()
    return msgspec.structs.replace(data, **tidied)


async def create_location(conn: asyncpg.Connection, actor: Actor, data: LocationCreate) -> Location:
    values = msgspec.structs.asdict(await _check(conn, data))
    row = await insert_record(conn, actor, table=LOCATION_TABLE, entity=LOCATION, values=values)
    return struct_of(Location, row)


async def get_location(conn: asyncpg.Connection, location_id: int) -> Location:
    return struct_of(Location, await get_record(conn, LOCATION_TABLE, LOCATION, location_id))


async def update_location(
    conn: asyncpg.Connection,
    actor: Actor,
    location_id: int,
    changes: LocationUpdate,
    expected_version: int | None,
) -> Location:
    row = await update_record(
        conn,
        actor,
        table=LOCATION_TABLE,
        entity=LOCATION,
        record_id=location_id,
        changes=changes_of(await _check(conn, changes)),
        expected_version=expected_version,
    )
    return struct_of(Location, row)


async def list_locations(
    conn: asyncpg.Connection,
    page: PageRequest,
    *,
    code: str | None = None,
    business_unit: str | None = None,
    q: str | None = None,
) -> Page[Location]:
    f = Filters()
    if code is not None:
        f.add("code = {}", location_code(code))
    if business_unit is not None:
        f.add(
            "business_unit_id = (SELECT id FROM business_unit WHERE code = {})",
            business_unit.strip().upper(),
        )
    if q and q.strip():
        f.add("(code ILIKE {0} OR name ILIKE {0})", like_pattern(q))
    found = await list_page(conn, f"SELECT * FROM {LOCATION_TABLE}", f, page)
    return Page([struct_of(Location, r) for r in found.items], found.next_cursor)


# --- for the other modules: a location named by id or code, and the default one ------------


async def location_problems(
    conn: asyncpg.Connection, field: str, location_id: int | None
) -> list[FieldProblem]:
    """A location a request names by id must exist (else the problem, naming ``field``)."""
    if location_id is None:
        return []
    if not 1 <= location_id <= MAX_ID or not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM location WHERE id = $1)", location_id
    ):
        return [FieldProblem(field, f"no location with id {location_id}")]
    return []


async def location_id_of_code(conn: asyncpg.Connection, field: str, code: str | None) -> int:
    """The id of the location ``code`` names (None or blank: the default location); a code
    no location has is a 422 naming ``field``."""
    if code is None or not code.strip():
        return await default_location_id(conn, field)
    wanted = location_code(code)
    found: int | None = await conn.fetchval("SELECT id FROM location WHERE code = $1", wanted)
    if found is None:
        raise ValidationFailed.one(field, f"no location has the code {wanted}")
    return found


async def default_location_id(conn: asyncpg.Connection, field: str = "location_id") -> int:
    """The location ``FLEETSVC_DEFAULT_LOCATION`` names. It exists unless someone renamed
    it or the setting changed since the migration made it: then say so, naming ``field``
    (the caller can name a location instead)."""
    code = get_settings().default_location
    found: int | None = await conn.fetchval("SELECT id FROM location WHERE code = $1", code)
    if found is None:
        raise ValidationFailed.one(
            field,
            f"no location was named, and the default location {code}"
            " (FLEETSVC_DEFAULT_LOCATION) does not exist: name a location, or create one"
            f" with the code {code}",
        )
    return found


async def location_code_of(conn: asyncpg.Connection, location_id: int) -> str:
    code: str | None = await conn.fetchval("SELECT code FROM location WHERE id = $1", location_id)
    if code is None:
        raise NotFound(LOCATION, location_id)
    return code
