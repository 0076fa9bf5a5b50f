"""The reconciliation report: the register against the MDM, for one run or now, security
findings first, and the MDM licence's capacity."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class _Scope:
    """What one report covers: one run (``run_id``) or now, the stale window, a business
    unit's code for the holder-based sections, and how many items a section shows."""

    run_id: int | None
    stale_days: int
    bu_code: str | None
    limit: int

    def devices(self) -> Filters:
        return _scoped(self.run_id, self.stale_days)


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


async def _section(conn: asyncpg.Connection, sql: str, f: Filters, limit: int) -> Section:
    """``sql`` holds ``{where}`` and ``{limit}``; values go as parameters. Each row carries
    the section's ``total`` (a window count), so one query gives both."""
    query = sql.format(where=f.where(), limit=f"${len(f.args) + 1}")
    rows: list[asyncpg.Record] = await conn.fetch(query, *f.args, limit)
    total = int(rows[0]["total"]) if rows else 0
    items = [{k: v for k, v in r.items() if k != "total"} for r in rows]
    return Section(count=total, items=items)


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


async def _still_checking_in(conn: asyncpg.Connection, scope: _Scope) -> Section:
    """Security first: disposed, retired, lost or stolen devices whose MDM record synced
    after the status changed (from the audit trail), or within the stale window."""
    f = scope.devices()
    f.add("a.status = ANY({}::text[])", list(LEFT_ESTATE))
    f.add("d.last_sync_at IS NOT NULL")
    f.add(
        "(d.last_sync_at > sc.changed_at OR d.last_sync_at >= now() - make_interval(days => {}))",
        scope.stale_days,
    )
    return await _section(conn, _STILL_CHECKING_IN, f, scope.limit)


_NOT_IN_REGISTER = """
SELECT d.mdm_device_id, d.serial_number, d.imei, d.device_name, d.manufacturer, d.model,
       d.user_upn, d.last_sync_at, count(*) OVER () AS total
FROM mdm_device d
{where}
ORDER BY d.mdm_device_id LIMIT {limit}
"""


async def _not_in_register(conn: asyncpg.Connection, scope: _Scope) -> Section:
    """Enrolled in the MDM; no asset has its serial or IMEI."""
    f = scope.devices()
    f.add("d.asset_id IS NULL")
    f.add("NOT EXISTS (SELECT 1 FROM asset a WHERE a.serial_number = d.serial_number)")
    f.add("NOT EXISTS (SELECT 1 FROM asset a WHERE a.imei = d.imei)")
    return await _section(conn, _NOT_IN_REGISTER, f, scope.limit)


_UNIT_JOINS = """
LEFT JOIN person p ON p.id = a.person_id
LEFT JOIN install i ON i.tablet_id = a.id AND i.removed_on IS NULL
LEFT JOIN vehicle v ON v.id = i.vehicle_id
LEFT JOIN business_unit bu ON bu.id = COALESCE(p.business_unit_id, v.business_unit_id)
"""

_NOT_SEEN = f"""
SELECT a.id AS asset_id, a.serial_number, a.imei, md.mdm_device_id,
       md.last_sync_at AS mdm_last_seen_at,
       a.person_id, i.vehicle_id, bu.code AS business_unit, count(*) OVER () AS total
FROM asset a JOIN device_model m ON m.id = a.model_id
LEFT JOIN mdm_device md ON md.asset_id = a.id AND md.is_primary
{_UNIT_JOINS}
{{where}}
ORDER BY md.last_sync_at NULLS FIRST, a.id LIMIT {{limit}}
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


async def _not_seen(
    conn: asyncpg.Connection, scope: _Scope, reference: dt.datetime | None
) -> Section:
    """Deployed smartphones and tablets the MDM has not seen for ``stale_days`` before
    ``reference``; none without one (a run that never closed marks nothing unseen)."""
    if reference is None:
        return Section(count=0, items=[])
    f = Filters()
    f.add("a.status = 'deployed'")
    f.add("m.category = ANY({}::text[])", list(MDM_MANAGED))
    f.add(
        "(md.last_sync_at IS NULL"
        " OR md.last_sync_at < {}::timestamptz - make_interval(days => {}))",
        reference,
        scope.stale_days,
    )
    if scope.bu_code:
        f.add("bu.code = {}", scope.bu_code)
    return await _section(conn, _NOT_SEEN, f, scope.limit)


_USER_MISMATCHES = """
SELECT a.id AS asset_id, a.serial_number, d.mdm_device_id, d.user_upn AS mdm_user_upn,
       p.id AS person_id, p.upn AS register_upn, bu.code AS business_unit,
       count(*) OVER () AS total
FROM mdm_device d JOIN asset a ON a.id = d.asset_id AND d.is_primary
JOIN person p ON p.id = a.person_id
LEFT JOIN business_unit bu ON bu.id = p.business_unit_id
{where}
ORDER BY a.id LIMIT {limit}
"""


async def _user_mismatches(conn: asyncpg.Connection, scope: _Scope) -> Section:
    """The MDM's primary user is not the register's holder (UPNs compared without case)."""
    f = scope.devices()
    f.add("d.user_upn IS NOT NULL AND p.upn IS NOT NULL AND lower(d.user_upn) <> lower(p.upn)")
    if scope.bu_code:
        f.add("bu.code = {}", scope.bu_code)
    return await _section(conn, _USER_MISMATCHES, f, scope.limit)


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


async def _duplicates(conn: asyncpg.Connection, scope: _Scope) -> Section:
    """One serial or IMEI on two or more MDM records."""
    return await _section(conn, _DUPLICATES, scope.devices(), scope.limit)


_NONCOMPLIANT = f"""
SELECT bu.id AS business_unit_id, bu.code AS business_unit, bu.name,
       count(*) FILTER (WHERE d.compliance = 'noncompliant') AS noncompliant,
       count(*) AS devices,
       sum(count(*) FILTER (WHERE d.compliance = 'noncompliant')) OVER () AS total
FROM mdm_device d JOIN asset a ON a.id = d.asset_id AND d.is_primary
{_UNIT_JOINS}
{{where}}
GROUP BY bu.id, bu.code, bu.name
HAVING count(*) FILTER (WHERE d.compliance = 'noncompliant') > 0
ORDER BY noncompliant DESC, bu.code NULLS LAST LIMIT {{limit}}
"""


async def _noncompliant(conn: asyncpg.Connection, scope: _Scope) -> Section:
    """Non-compliant devices by the holder's (or the vehicle's) business unit."""
    f = scope.devices()
    if scope.bu_code:
        f.add("bu.code = {}", scope.bu_code)
    return await _section(conn, _NONCOMPLIANT, f, scope.limit)


def _capacity(managed: int, capacity: int) -> Capacity:
    return Capacity(
        managed=managed,
        capacity=capacity,
        headroom=capacity - managed,
        used_percent=round(100 * managed / capacity, 1) if capacity else 0.0,
    )


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
    scope = _Scope(run_id=run_id, stale_days=stale_days, bu_code=bu_code, limit=limit)
    still_checking_in = await _still_checking_in(conn, scope)
    not_in_register = await _not_in_register(conn, scope)
    reference = await not_seen_reference(conn, run_id)
    not_seen = await _not_seen(conn, scope, reference)
    user_mismatches = await _user_mismatches(conn, scope)
    duplicates = await _duplicates(conn, scope)
    noncompliant = await _noncompliant(conn, scope)
    managed = await managed_devices(conn, stale_days=stale_days, run_id=run_id)
    return Reconciliation(
        scope="run" if run_id is not None else "current",
        as_of=dt.datetime.now(dt.UTC),
        stale_days=stale_days,
        still_checking_in=still_checking_in,
        not_in_register=not_in_register,
        not_seen=not_seen,
        not_seen_reference=reference,
        user_mismatches=user_mismatches,
        duplicates=duplicates,
        noncompliant_by_business_unit=noncompliant,
        capacity=_capacity(managed, capacity),
    )
