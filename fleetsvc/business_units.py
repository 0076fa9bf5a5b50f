"""Business units (the BCUs and OCUs): the units people and vehicles belong to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from fleetsvc.auth import Actor
from fleetsvc.errors import FieldProblem, ValidationFailed
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import Filters, get_record, insert_record, list_page, update_record
from importers.fields import FieldError, clean_text

BU_TABLE = "business_unit"
BU_ENTITY = "business_unit"


def _check_business_unit(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    problems = []
    if "code" in out:
        out["code"] = str(out["code"]).strip().upper()
        if not out["code"] or len(out["code"]) > 16 or not out["code"].replace("-", "").isalnum():
            problems.append(FieldProblem("code", "code must be 1 to 16 letters, digits or dashes"))
    if "name" in out:
        try:
            out["name"] = clean_text(str(out["name"]), 200)
        except FieldError as exc:
            problems.append(FieldProblem("name", exc.message))
        else:
            if not out["name"]:
                problems.append(FieldProblem("name", "name must be 1 to 200 characters"))
    if problems:
        raise ValidationFailed(problems)
    return out


async def create_business_unit(
    conn: asyncpg.Connection, actor: Actor, code: str, name: str
) -> asyncpg.Record:
    values = _check_business_unit({"code": code, "name": name})
    return await insert_record(conn, actor, table=BU_TABLE, entity=BU_ENTITY, values=values)


async def get_business_unit(conn: asyncpg.Connection, bu_id: int) -> asyncpg.Record:
    return await get_record(conn, BU_TABLE, BU_ENTITY, bu_id)


async def update_business_unit(
    conn: asyncpg.Connection,
    actor: Actor,
    bu_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None,
) -> asyncpg.Record:
    return await update_record(
        conn,
        actor,
        table=BU_TABLE,
        entity=BU_ENTITY,
        record_id=bu_id,
        changes=_check_business_unit(changes),
        expected_version=expected_version,
    )


async def list_business_units(
    conn: asyncpg.Connection, page: PageRequest, *, code: str | None = None, q: str | None = None
) -> Page[asyncpg.Record]:
    f = Filters()
    if code is not None:
        f.add("code = {}", code.strip().upper())
    if q:
        f.add("(code ILIKE {0} OR name ILIKE {0})", f"%{q.strip()}%")
    return await list_page(conn, f"SELECT * FROM {BU_TABLE}", f, page)
