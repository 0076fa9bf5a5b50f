"""Reading recovery cases: the list (filtered, keyset-paged), one case with its lines, and
how many are overdue (for the summary report and the daily notice).

A case is overdue while it is open after its due date (opened for a leaving date, due
``FLEETSVC_RECOVERY_DUE_DAYS`` after the later of that date and the day it opened); a closed
case, or one cancelled because the leaver came back, never is. People are named by id only:
their names stay in ``person``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final

import asyncpg
import msgspec

from fleetsvc.checks import filter_choice
from fleetsvc.errors import NotFound
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import Filters, check_id, list_page
from fleetsvc.recoveries.cases import CASE
from fleetsvc.vocabulary import RecoveryCancelReason, RecoveryLineStatus, RecoveryStatus, one_of

OVERDUE_SQL: Final = "(c.status = 'open' AND c.due_on < current_date)"


class LicenceSeatHeld(msgspec.Struct):
    """A licence seat on a device when its case opened."""

    seat_id: int
    pool_id: int
    product: str


class RecoveryLine(msgspec.Struct):
    id: int
    asset_id: int
    serial_number: str
    asset_tag: str | None
    model: str
    asset_status: str
    licence_seats: list[LicenceSeatHeld]
    status: Annotated[str, one_of(RecoveryLineStatus)]
    reason: str | None
    closed_at: dt.datetime | None


class RecoveryCase(msgspec.Struct):
    id: int
    person_id: int
    business_unit_id: int | None
    status: Annotated[str, one_of(RecoveryStatus)]
    left_on: dt.date
    due_on: dt.date
    overdue: bool
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    # Why a cancelled case was cancelled (returned: the leaver is back in post).
    reason: Annotated[str, one_of(RecoveryCancelReason, nullable=True)] | None
    lines_open: int
    lines: int
    version: int


class RecoveryCaseDetail(RecoveryCase):
    items: list[RecoveryLine] = []


_CASES: Final = f"""
SELECT * FROM (
    SELECT c.id, c.person_id, c.business_unit_id, c.status, c.left_on, c.due_on,
           {OVERDUE_SQL} AS overdue, c.opened_at, c.closed_at, c.reason, c.version,
           (SELECT count(*) FILTER (WHERE l.status = 'open') FROM recovery_line l
            WHERE l.case_id = c.id)::int AS lines_open,
           (SELECT count(*) FROM recovery_line l WHERE l.case_id = c.id)::int AS lines
    FROM recovery_case c
) c
"""

_LINES: Final = """
SELECT l.id, l.asset_id, a.serial_number, a.asset_tag,
       m.manufacturer || ' ' || m.model_name AS model, a.status AS asset_status,
       l.licence_seats, l.status, l.reason, l.closed_at
FROM recovery_line l JOIN asset a ON a.id = l.asset_id JOIN device_model m ON m.id = a.model_id
WHERE l.case_id = $1 ORDER BY l.id
"""


def _case(row: asyncpg.Record, cls: type[RecoveryCase] = RecoveryCase) -> RecoveryCase:
    return cls(**{name: row[name] for name in RecoveryCase.__struct_fields__})


async def list_recoveries(
    conn: asyncpg.Connection,
    page: PageRequest,
    *,
    status: str | None = None,
    business_unit: str | None = None,
    overdue: bool | None = None,
    person_id: int | None = None,
) -> Page[RecoveryCase]:
    f = Filters()
    if status is not None:
        f.add("status = {}", filter_choice("status", status, RecoveryStatus))
    if business_unit is not None:
        f.add(
            "business_unit_id = (SELECT id FROM business_unit WHERE code = {})",
            business_unit.strip().upper(),
        )
    if overdue is not None:
        f.add("overdue = {}", overdue)
    if person_id is not None:
        f.add("person_id = {}", person_id)
    found = await list_page(conn, _CASES, f, page)
    return Page([_case(r) for r in found.items], found.next_cursor)


async def get_recovery(conn: asyncpg.Connection, case_id: int) -> RecoveryCaseDetail:
    check_id(CASE, case_id)
    row = await conn.fetchrow(f"{_CASES} WHERE id = $1", case_id)
    if row is None:
        raise NotFound(CASE, case_id)
    lines = [
        RecoveryLine(
            **{k: r[k] for k in RecoveryLine.__struct_fields__ if k != "licence_seats"},
            licence_seats=msgspec.json.decode(r["licence_seats"], type=list[LicenceSeatHeld]),
        )
        for r in await conn.fetch(_LINES, case_id)
    ]
    detail = _case(row, RecoveryCaseDetail)
    assert isinstance(detail, RecoveryCaseDetail)
    detail.items = lines
    return detail


async def overdue_count(conn: asyncpg.Connection) -> int:
    """Open cases past their due date."""
    count: int = await conn.fetchval(f"SELECT count(*) FROM recovery_case c WHERE {OVERDUE_SQL}")
    return count
