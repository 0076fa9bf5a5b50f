"""What a person or a vehicle holds: the leaver checklist (the devices a person has now,
and those they held before, with the dates), the leavers who still hold devices, and the
IVMA kit fitted in a vehicle now and before. Read-only, a few set-based queries each.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import asyncpg

from fleetsvc.errors import NotFound
from fleetsvc.pagination import Page, PageRequest, make_page
from fleetsvc.records import check_id

# A person's or vehicle's past is shown this far back (newest first); a real holder has
# a handful of devices in a career, a vehicle a few tablets.
HISTORY_SHOWN: Final = 200
HELD_NOW_CAP: Final = 500

_DEVICE_COLUMNS = """a.id AS asset_id, a.serial_number, a.imei, a.asset_tag, a.status,
       m.manufacturer, m.model_name, m.category"""

# What the person holds now (their open assignment's start, where there is one) and, after
# it, what they held before, newest first: one statement for the whole checklist.
_CHECKLIST_SQL = f"""
(SELECT {_DEVICE_COLUMNS}, s.msisdn, g.started_at, NULL::timestamptz AS ended_at,
        NULL::text AS end_reason, true AS held_now
 FROM asset a
 JOIN device_model m ON m.id = a.model_id
 LEFT JOIN sim s ON s.asset_id = a.id
 LEFT JOIN assignment g ON g.asset_id = a.id AND g.person_id = a.person_id
      AND g.ended_at IS NULL
 WHERE a.person_id = $1
 ORDER BY a.id
 LIMIT $2)
UNION ALL
(SELECT {_DEVICE_COLUMNS}, NULL::text, g.started_at, g.ended_at, g.end_reason, false
 FROM assignment g
 JOIN asset a ON a.id = g.asset_id
 JOIN device_model m ON m.id = a.model_id
 WHERE g.person_id = $1 AND g.ended_at IS NOT NULL
 ORDER BY g.ended_at DESC, g.id DESC
 LIMIT $3)"""

_LEAVERS_HOLDING_SQL = """
SELECT p.id, p.employee_number, p.display_name, p.left_on, b.code AS business_unit,
       count(a.id)::int AS held
FROM person p
JOIN asset a ON a.person_id = p.id
LEFT JOIN business_unit b ON b.id = p.business_unit_id
WHERE NOT p.active AND p.id > $1
GROUP BY p.id, b.code
ORDER BY p.id
LIMIT $2"""

_HELD_COUNTS_SQL = """
SELECT person_id, count(*)::int AS held FROM asset
WHERE person_id = ANY($1::int[]) GROUP BY person_id"""

_KIT_COLUMNS = """i.id, i.job_reference, i.installed_on, i.removed_on, i.removal_reason,
       i.tablet_id, t.serial_number AS tablet_serial, tm.model_name AS tablet_model,
       t.status AS tablet_status,
       i.dock_id, d.serial_number AS dock_serial, dm.model_name AS dock_model,
       c.reference AS installer_contract"""
_KIT_FROM = """FROM install i
JOIN asset t ON t.id = i.tablet_id
JOIN device_model tm ON tm.id = t.model_id
LEFT JOIN asset d ON d.id = i.dock_id
LEFT JOIN device_model dm ON dm.id = d.model_id
LEFT JOIN contract c ON c.id = i.installer_contract_id"""

_KIT_SQL = f"""
SELECT {_KIT_COLUMNS}
{_KIT_FROM}
WHERE i.vehicle_id = $1
ORDER BY i.removed_on IS NULL DESC, i.installed_on DESC, i.id DESC
LIMIT $2"""

_FITTED_NOW_SQL = f"""
SELECT i.vehicle_id, {_KIT_COLUMNS}
{_KIT_FROM}
WHERE i.vehicle_id = ANY($1::int[]) AND i.removed_on IS NULL"""


@dataclass(frozen=True, slots=True)
class Holding:
    """One device a person holds (``ended_at`` None) or held, with the dates."""

    asset_id: int
    serial_number: str
    imei: str | None
    asset_tag: str | None
    status: str  # the device's status now
    manufacturer: str
    model_name: str
    category: str
    msisdn: str | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    end_reason: str | None


@dataclass(frozen=True, slots=True)
class Checklist:
    """The leaver checklist: what the person holds now (every item to recover) and what
    they held before, newest first (``HISTORY_SHOWN`` at most)."""

    now: list[Holding]
    before: list[Holding]


@dataclass(frozen=True, slots=True)
class LeaverHolding:
    id: int
    employee_number: str
    display_name: str
    left_on: dt.date | None
    business_unit: str | None
    held: int


@dataclass(frozen=True, slots=True)
class FittedKit:
    """One install of a vehicle: the tablet (and dock) an installer fitted, and when."""

    id: int
    job_reference: str
    installed_on: dt.date
    removed_on: dt.date | None
    removal_reason: str | None
    tablet_id: int
    tablet_serial: str
    tablet_model: str
    tablet_status: str
    dock_id: int | None
    dock_serial: str | None
    dock_model: str | None
    installer_contract: str | None


def _holding(row: asyncpg.Record) -> Holding:
    return Holding(**{name: row[name] for name in Holding.__dataclass_fields__})


async def person_checklist(conn: asyncpg.Connection, person_id: int) -> Checklist:
    """What the person holds now and held before; NotFound for no such person."""
    check_id("person", person_id)
    rows = await conn.fetch(_CHECKLIST_SQL, person_id, HELD_NOW_CAP, HISTORY_SHOWN)
    if not rows and not await conn.fetchval("SELECT true FROM person WHERE id = $1", person_id):
        raise NotFound("person", person_id)
    now = sorted((_holding(r) for r in rows if r["held_now"]), key=lambda h: h.asset_id)
    # UNION ALL keeps no order of its own: newest first again.
    before = sorted(
        (_holding(r) for r in rows if not r["held_now"]),
        key=lambda h: h.ended_at or dt.datetime.min.replace(tzinfo=dt.UTC),
        reverse=True,
    )
    return Checklist(now, before)


async def leavers_holding(conn: asyncpg.Connection, page: PageRequest) -> Page[LeaverHolding]:
    """Leavers who still hold at least one device, by id, with how many each holds."""
    rows = await conn.fetch(_LEAVERS_HOLDING_SQL, page.after_id or 0, page.limit + 1)
    items = [LeaverHolding(**{k: r[k] for k in LeaverHolding.__dataclass_fields__}) for r in rows]
    return make_page(items, page, key=lambda p: p.id)


async def held_counts(conn: asyncpg.Connection, person_ids: Sequence[int]) -> dict[int, int]:
    """How many devices each of these people holds now (absent: none)."""
    if not person_ids:
        return {}
    rows = await conn.fetch(_HELD_COUNTS_SQL, list(person_ids))
    return {r["person_id"]: r["held"] for r in rows}


async def vehicle_kit(conn: asyncpg.Connection, vehicle_id: int) -> list[FittedKit]:
    """The vehicle's installs: the one fitted now first, then the removed ones, newest
    first (``HISTORY_SHOWN`` at most); NotFound for no such vehicle."""
    check_id("vehicle", vehicle_id)
    rows = await conn.fetch(_KIT_SQL, vehicle_id, HISTORY_SHOWN)
    if not rows and not await conn.fetchval("SELECT true FROM vehicle WHERE id = $1", vehicle_id):
        raise NotFound("vehicle", vehicle_id)
    return [FittedKit(**{k: r[k] for k in FittedKit.__dataclass_fields__}) for r in rows]


async def fitted_now(conn: asyncpg.Connection, vehicle_ids: Sequence[int]) -> dict[int, FittedKit]:
    """The kit fitted now in each of these vehicles (absent: none fitted)."""
    if not vehicle_ids:
        return {}
    rows = await conn.fetch(_FITTED_NOW_SQL, list(vehicle_ids))
    return {
        r["vehicle_id"]: FittedKit(**{k: r[k] for k in FittedKit.__dataclass_fields__})
        for r in rows
    }
