"""The summary report: the fleet at a glance, from a few set-based queries.

Counts are by category, status and the business unit of whoever holds the
device (the person's unit, or the vehicle's for kit in a vehicle; otherwise
"unassigned").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import asyncpg
import msgspec

from fleetsvc.mdm.reconcile import managed_devices
from fleetsvc.settings import get_settings

UNASSIGNED = "unassigned"
CONTRACT_HORIZON_DAYS = 180
LEAVER_SAMPLE = 100

_COUNTS_SQL = """
WITH in_vehicle AS (
    SELECT tablet_id AS asset_id, vehicle_id FROM install WHERE removed_on IS NULL
    UNION ALL
    SELECT dock_id, vehicle_id FROM install WHERE removed_on IS NULL AND dock_id IS NOT NULL
)
SELECT m.category, a.status, COALESCE(pb.code, vb.code, $1) AS business_unit,
       count(*) AS assets
FROM asset a
JOIN device_model m ON m.id = a.model_id
LEFT JOIN person p ON p.id = a.person_id
LEFT JOIN business_unit pb ON pb.id = p.business_unit_id
LEFT JOIN in_vehicle iv ON iv.asset_id = a.id
LEFT JOIN vehicle v ON v.id = iv.vehicle_id
LEFT JOIN business_unit vb ON vb.id = v.business_unit_id
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
"""

_LEAVERS_SQL = """
SELECT a.id AS asset_id, a.person_id, count(*) OVER () AS total
FROM asset a JOIN person p ON p.id = a.person_id
WHERE a.person_id IS NOT NULL AND NOT p.active
ORDER BY a.id
LIMIT $1
"""

# Leavers' recovery cases: open ones, and those overdue (fleetsvc.recoveries.queries), the
# longest overdue first.
_RECOVERIES_SQL = """
SELECT c.id, c.due_on, b.code AS business_unit,
       (SELECT count(*) FROM recovery_line l WHERE l.case_id = c.id AND l.status = 'open')
           AS lines_open,
       count(*) OVER () AS total
FROM recovery_case c LEFT JOIN business_unit b ON b.id = c.business_unit_id
WHERE c.status = 'open' AND c.due_on < current_date
ORDER BY c.due_on, c.id
LIMIT $1
"""

_FACTS_SQL = """
SELECT
    (SELECT count(*) FROM install WHERE removed_on IS NULL) AS vehicles_with_kit,
    (SELECT count(*) FROM install WHERE removed_on IS NULL)
      + (SELECT count(*) FROM install WHERE removed_on IS NULL AND dock_id IS NOT NULL)
      AS devices_in_vehicles,
    (SELECT count(*) FROM recovery_case WHERE status = 'open') AS recoveries_open
"""

_CONTRACTS_SQL = """
SELECT id, reference, kind, ends_on, ends_on - current_date AS days_left
FROM contract
WHERE ends_on BETWEEN current_date AND current_date + $1::int
ORDER BY ends_on, reference
"""


# Each contract's position: committed value (purchase orders raised, not
# cancelled) against its cap, and per purchase order what was ordered against
# what has been delivered (the assets received on it).
_POSITIONS_SQL = """
WITH orders AS (
    SELECT po.id, po.contract_id, po.number, po.status,
           sum(l.quantity)::int AS ordered, sum(l.quantity * l.unit_cost) AS value
    FROM purchase_order po JOIN purchase_order_line l ON l.purchase_order_id = po.id
    GROUP BY po.id
), received AS (
    SELECT a.purchase_order_id AS id, count(*)::int AS delivered
    FROM asset a WHERE a.purchase_order_id IS NOT NULL
    GROUP BY a.purchase_order_id
)
SELECT c.id, c.reference, c.kind, c.ends_on, c.value_cap,
       COALESCE(sum(o.value) FILTER (WHERE o.status <> 'cancelled'), 0) AS committed,
       COALESCE(jsonb_agg(jsonb_build_object(
           'number', o.number, 'status', o.status, 'ordered', o.ordered,
           'delivered', COALESCE(r.delivered, 0)) ORDER BY o.number)
           FILTER (WHERE o.id IS NOT NULL), '[]') AS orders
FROM contract c
LEFT JOIN orders o ON o.contract_id = c.id
LEFT JOIN received r ON r.id = o.id
WHERE c.ends_on IS NULL OR c.ends_on >= current_date
GROUP BY c.id
ORDER BY c.reference
"""


@dataclass(frozen=True, slots=True)
class OrderPosition:
    number: str
    status: str
    ordered: int
    delivered: int
    outstanding: int
    over_delivered: int


@dataclass(frozen=True, slots=True)
class ContractPosition:
    id: int
    reference: str
    kind: str
    ends_on: dt.date | None
    value_cap: Decimal | None
    committed_value: Decimal
    remaining_cap: Decimal | None
    purchase_orders: list[OrderPosition]


def _position(row: asyncpg.Record) -> ContractPosition:
    orders = [
        OrderPosition(
            o["number"],
            o["status"],
            o["ordered"],
            o["delivered"],
            max(o["ordered"] - o["delivered"], 0),
            max(o["delivered"] - o["ordered"], 0),
        )
        for o in msgspec.json.decode(row["orders"])
    ]
    cap = row["value_cap"]
    committed = Decimal(row["committed"]).quantize(Decimal("0.01"))
    return ContractPosition(
        id=row["id"],
        reference=row["reference"],
        kind=row["kind"],
        ends_on=row["ends_on"],
        value_cap=cap,
        committed_value=committed,
        remaining_cap=None if cap is None else cap - committed,
        purchase_orders=orders,
    )


@dataclass(frozen=True, slots=True)
class CountRow:
    category: str
    status: str
    business_unit: str
    assets: int


@dataclass(frozen=True, slots=True)
class LeaverDevice:
    asset_id: int
    person_id: int


@dataclass(frozen=True, slots=True)
class OverdueRecovery:
    case_id: int
    due_on: dt.date
    business_unit: str | None
    lines_open: int


@dataclass(frozen=True, slots=True)
class EndingContract:
    id: int
    reference: str
    kind: str
    ends_on: dt.date
    days_left: int


@dataclass(frozen=True, slots=True)
class Summary:
    total_assets: int
    counts: list[CountRow]
    leaver_devices: int
    leaver_sample: list[LeaverDevice]
    devices_in_vehicles: int
    vehicles_with_kit: int
    mdm_managed: int
    mdm_capacity: int
    mdm_headroom: int
    contracts_ending: list[EndingContract]
    contracts: list[ContractPosition]
    recoveries_open: int = 0
    recoveries_overdue: int = 0
    overdue_sample: list[OverdueRecovery] = field(default_factory=list)


async def summary(
    conn: asyncpg.Connection, contracts_within_days: int = CONTRACT_HORIZON_DAYS
) -> Summary:
    counts = [
        CountRow(r["category"], r["status"], r["business_unit"], r["assets"])
        for r in await conn.fetch(_COUNTS_SQL, UNASSIGNED)
    ]
    leavers = await conn.fetch(_LEAVERS_SQL, LEAVER_SAMPLE)
    overdue = await conn.fetch(_RECOVERIES_SQL, LEAVER_SAMPLE)
    facts = await conn.fetchrow(_FACTS_SQL)
    assert facts is not None
    contracts = await conn.fetch(_CONTRACTS_SQL, contracts_within_days)
    positions = [_position(r) for r in await conn.fetch(_POSITIONS_SQL)]
    settings = get_settings()
    capacity = settings.mdm_capacity
    managed = await managed_devices(conn, stale_days=settings.mdm_stale_days)
    return Summary(
        total_assets=sum(c.assets for c in counts),
        counts=counts,
        leaver_devices=leavers[0]["total"] if leavers else 0,
        leaver_sample=[LeaverDevice(r["asset_id"], r["person_id"]) for r in leavers],
        devices_in_vehicles=facts["devices_in_vehicles"],
        vehicles_with_kit=facts["vehicles_with_kit"],
        mdm_managed=managed,
        mdm_capacity=capacity,
        mdm_headroom=capacity - managed,
        contracts_ending=[
            EndingContract(r["id"], r["reference"], r["kind"], r["ends_on"], r["days_left"])
            for r in contracts
        ],
        contracts=positions,
        recoveries_open=facts["recoveries_open"],
        recoveries_overdue=overdue[0]["total"] if overdue else 0,
        overdue_sample=[
            OverdueRecovery(r["id"], r["due_on"], r["business_unit"], r["lines_open"])
            for r in overdue
        ],
    )
