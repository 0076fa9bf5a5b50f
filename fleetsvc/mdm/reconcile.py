"""The reconciliation report: the register against the MDM, for one run or now, security
findings first, and the MDM licence's capacity."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg
import msgspec

from fleetsvc.records import Filters
from fleetsvc.vocabulary import LEFT_ESTATE, MDM_MANAGED


class Section(msgspec.Struct, frozen=True):
    """One part of the report: how many there are, and the first of them (each a row of
    the section's own columns)."""

    count: int
    items: list[dict[str, object]]


class Capacity(msgspec.Struct, frozen=True):
    managed: int
    capacity: int
    headroom: int
    used_percent: float


class Reconciliation(msgspec.Struct, frozen=True):
    scope: str
    as_of: dt.datetime
    stale_days: int
    # Devices the force no longer holds that still talk to the MDM come first.
    still_checking_in: Section
    not_in_register: Section
    not_seen: Section
    not_seen_reference: dt.datetime | None
    user_mismatches: Section
    duplicates: Section
    noncompliant_by_business_unit: Section
    capacity: Capacity


def _section(rows: Sequence[asyncpg.Record]) -> Section:
    total = int(rows[0]["total"]) if rows else 0
    items = [{k: v for k, v in r.items() if k != "total"} for r in rows]
    return Section(count=total, items=items)


def _scoped(run_id: int | None, stale_days: int) -> Filters:
    """The MDM records a report covers: one run's, or those reported within the window."""
    f = Filters()
    if run_id is None:
        f.add("d.updated_at >= now() - make_interval(days => {})", stale_days)
    else:
        f.add("d.last_run_id = {}", run_id)
    return f


async def managed_devices(
    conn: asyncpg.Connection, *, stale_days: int, run_id: int | None = None
) -> int:
    """Devices the MDM manages, which is what its licence counts: every device it reported
    within the stale window (or in one run), whether the register knows it or not."""
    f = _scoped(run_id, stale_days)
    return int(await conn.fetchval(f"SELECT count(*) FROM mdm_device d{f.where()}", *f.args))


async def _fetch(
    conn: asyncpg.Connection, sql: str, f: Filters, limit: int
) -> list[asyncpg.Record]:
    """``sql`` holds ``{where}`` and ``{limit}``; values go as parameters."""
    query = sql.format(where=f.where(), limit=f"${len(f.args) + 1}")
    rows: list[asyncpg.Record] = await conn.fetch(query, *f.args, limit)
    return rows


_STILL_CHECKING_IN = """
SELECT a.id AS asset_id, a.serial_number, a.imei, a.status,
       sc.changed_at AS status_changed_at, d.mdm_device_id, d.last_sync_at, d.user_upn,
       count(*) OVER () AS total
FROM mdm_device d JOIN asset a ON a.id = d.asset_id
LEFT JOIN LATERAL (
    SELECT max(e.occurred_at) AS changed_at FROM event e
    WHERE e.entity = 'asset' AND e.entity_id = a.id AND e.after ->> 'status' = a.status
) sc ON true
{where}
ORDER BY d.last_sync_at DESC, d.mdm_device_id LIMIT {limit}
"""

_NOT_IN_REGISTER = """
SELECT d.mdm_device_id, d.serial_number, d.imei, d.device_name, d.manufacturer, d.model,
       d.user_upn, d.last_sync_at, count(*) OVER () AS total
FROM mdm_device d
{where}
ORDER BY d.mdm_device_id LIMIT {limit}
"""

_UNIT_JOINS = """
LEFT JOIN person p ON p.id = a.person_id
LEFT JOIN install i ON i.tablet_id = a.id AND i.removed_on IS NULL
LEFT JOIN vehicle v ON v.id = i.vehicle_id
LEFT JOIN business_unit bu ON bu.id = COALESCE(p.business_unit_id, v.business_unit_id)
"""

_NOT_SEEN = f"""
SELECT a.id AS asset_id, a.serial_number, a.imei, a.mdm_device_id,
       md.last_sync_at AS mdm_last_seen_at,
       a.person_id, i.vehicle_id, bu.code AS business_unit, count(*) OVER () AS total
FROM asset a JOIN device_model m ON m.id = a.model_id
LEFT JOIN mdm_device md ON md.mdm_device_id = a.mdm_device_id
{_UNIT_JOINS}
{{where}}
ORDER BY md.last_sync_at NULLS FIRST, a.id LIMIT {{limit}}
"""

_USER_MISMATCHES = """
SELECT a.id AS asset_id, a.serial_number, d.mdm_device_id, d.user_upn AS mdm_user_upn,
       p.id AS person_id, p.upn AS register_upn, bu.code AS business_unit,
       count(*) OVER () AS total
FROM mdm_device d JOIN asset a ON a.mdm_device_id = d.mdm_device_id
JOIN person p ON p.id = a.person_id
LEFT JOIN business_unit bu ON bu.id = p.business_unit_id
{where}
ORDER BY a.id LIMIT {limit}
"""

_DUPLICATES = """
WITH s AS (SELECT d.serial_number, d.imei, d.mdm_device_id FROM mdm_device d {where}),
dup AS (
    SELECT 'serial_number' AS kind, serial_number AS value,
           array_agg(mdm_device_id ORDER BY mdm_device_id) AS mdm_device_ids
    FROM s WHERE serial_number IS NOT NULL GROUP BY serial_number HAVING count(*) > 1
    UNION ALL
    SELECT 'imei', imei, array_agg(mdm_device_id ORDER BY mdm_device_id)
    FROM s WHERE imei IS NOT NULL GROUP BY imei HAVING count(*) > 1
)
SELECT kind, value, mdm_device_ids, count(*) OVER () AS total
FROM dup ORDER BY kind, value LIMIT {limit}
"""

_NONCOMPLIANT = f"""
SELECT bu.id AS business_unit_id, bu.code AS business_unit, bu.name,
       count(*) FILTER (WHERE d.compliance = 'noncompliant') AS noncompliant,
       count(*) AS devices,
       sum(count(*) FILTER (WHERE d.compliance = 'noncompliant')) OVER () AS total
FROM mdm_device d JOIN asset a ON a.mdm_device_id = d.mdm_device_id
{_UNIT_JOINS}
{{where}}
GROUP BY bu.id, bu.code, bu.name
HAVING count(*) FILTER (WHERE d.compliance = 'noncompliant') > 0
ORDER BY noncompliant DESC, bu.code NULLS LAST LIMIT {{limit}}
"""


async def not_seen_reference(conn: asyncpg.Connection, run_id: int | None) -> dt.datetime | None:
    """The time "not seen for N days" is counted back from: when the run (or the latest
    run) closed. A run that never closed sets no reference, so it marks nothing unseen."""
    if run_id is None:
        value = await conn.fetchval("SELECT max(closed_at) FROM mdm_run WHERE status = 'closed'")
    else:
        value = await conn.fetchval(
            "SELECT closed_at FROM mdm_run WHERE id = $1 AND status = 'closed'", run_id
        )
    return value if isinstance(value, dt.datetime) else None


async def reconcile(
    conn: asyncpg.Connection,
    *,
    capacity: int,
    stale_days: int,
    limit: int = 100,
    run_id: int | None = None,
    business_unit: str | None = None,
) -> Reconciliation:
    """The reconciliation report, for one run (the devices it reported last) or now (the
    devices any run reported within the stale window). ``business_unit`` (a unit code)
    narrows the holder-based sections: not seen, user mismatches, non-compliance."""
    bu_code = business_unit.strip().upper() if business_unit else None

    f = _scoped(run_id, stale_days)
    f.add("a.status = ANY({}::text[])", list(LEFT_ESTATE))
    f.add("d.last_sync_at IS NOT NULL")
    f.add(
        "(d.last_sync_at > sc.changed_at OR d.last_sync_at >= now() - make_interval(days => {}))",
        stale_days,
    )
    still = await _fetch(conn, _STILL_CHECKING_IN, f, limit)

    f = _scoped(run_id, stale_days)
    f.add("d.asset_id IS NULL")
    f.add("NOT EXISTS (SELECT 1 FROM asset a WHERE a.serial_number = d.serial_number)")
    f.add("NOT EXISTS (SELECT 1 FROM asset a WHERE a.imei = d.imei)")
    unknown = await _fetch(conn, _NOT_IN_REGISTER, f, limit)

    reference = await not_seen_reference(conn, run_id)
    not_seen: list[asyncpg.Record] = []
    if reference is not None:
        f = Filters()
        f.add("a.status = 'deployed'")
        f.add("m.category = ANY({}::text[])", list(MDM_MANAGED))
        f.add(
            "(md.last_sync_at IS NULL"
            " OR md.last_sync_at < {}::timestamptz - make_interval(days => {}))",
            reference,
            stale_days,
        )
        if bu_code:
            f.add("bu.code = {}", bu_code)
        not_seen = await _fetch(conn, _NOT_SEEN, f, limit)

    f = _scoped(run_id, stale_days)
    f.add("d.user_upn IS NOT NULL AND p.upn IS NOT NULL AND lower(d.user_upn) <> lower(p.upn)")
    if bu_code:
        f.add("bu.code = {}", bu_code)
    mismatches = await _fetch(conn, _USER_MISMATCHES, f, limit)

    duplicates = await _fetch(conn, _DUPLICATES, _scoped(run_id, stale_days), limit)

    f = _scoped(run_id, stale_days)
    if bu_code:
        f.add("bu.code = {}", bu_code)
    noncompliant = await _fetch(conn, _NONCOMPLIANT, f, limit)

    managed = await managed_devices(conn, stale_days=stale_days, run_id=run_id)
    return Reconciliation(
        scope="run" if run_id is not None else "current",
        as_of=dt.datetime.now(dt.UTC),
        stale_days=stale_days,
        still_checking_in=_section(still),
        not_in_register=_section(unknown),
        not_seen=_section(not_seen),
        not_seen_reference=reference,
        user_mismatches=_section(mismatches),
        duplicates=_section(duplicates),
        noncompliant_by_business_unit=_section(noncompliant),
        capacity=Capacity(
            managed=managed,
            capacity=capacity,
            headroom=capacity - managed,
            used_percent=round(100 * managed / capacity, 1) if capacity else 0.0,
        ),
    )
