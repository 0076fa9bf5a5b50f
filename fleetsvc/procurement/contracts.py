"""Contracts, with their recurring charges and the figures derived from their purchase
orders: the value committed, the cap left, how soon they end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec

from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.checks import (
    Problems,
    choice,
    day,
    existing_id,
    filter_choice,
    like_pattern,
    money,
    text,
)
from fleetsvc.errors import NotFound
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import (
    Filters,
    check_id,
    insert_row,
    list_page,
    lock_current,
    write_version,
)
from fleetsvc.vocabulary import (
    Category,
    ChargeAppliesTo,
    ChargePeriod,
    ContractKind,
)

ENDING_SOON_DAYS = 180
PENNY = Decimal("0.01")

_CHARGES_JSON = (
    "(SELECT COALESCE(jsonb_agg(jsonb_build_object('description', ch.description,"
    " 'applies_to', ch.applies_to, 'category', ch.category,"
    " 'unit_amount', ch.unit_amount::text, 'period', ch.period) ORDER BY ch.id), '[]')"
    " FROM contract_charge ch WHERE ch.contract_id = {})::text"
)
# What a purchase order commits: cancelled orders commit nothing.
CONTRACT_SELECT = (
    "SELECT c.*, s.name AS supplier_name,"
    " (SELECT COALESCE(sum(l.quantity * l.unit_cost), 0) FROM purchase_order po"
    "   JOIN purchase_order_line l ON l.purchase_order_id = po.id"
    "   WHERE po.contract_id = c.id AND po.status <> 'cancelled') AS committed_value,"
    f" {_CHARGES_JSON.format('c.id')} AS charges_json"
    " FROM contract c JOIN supplier s ON s.id = c.supplier_id"
)


@dataclass(frozen=True, slots=True)
class ContractView:
    """A contract as read: its row, its recurring charges and the figures derived from it."""

    row: asyncpg.Record
    charges: list[dict[str, Any]]
    committed_value: Decimal
    remaining_cap: Decimal | None
    ends_in_days: int | None
    ending_soon: bool
    purchase_orders: list[asyncpg.Record] = field(default_factory=list)


def _charges_of(raw: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = msgspec.json.decode(raw)
    for item in items:
        item["unit_amount"] = Decimal(item["unit_amount"])
    return items


def _contract_view(
    row: asyncpg.Record, today: dt.date, purchase_orders: list[asyncpg.Record] | None = None
) -> ContractView:
    committed: Decimal = row["committed_value"].quantize(PENNY)
    cap: Decimal | None = row["value_cap"]
    ends_in = (row["ends_on"] - today).days if row["ends_on"] is not None else None
    return ContractView(
        row=row,
        charges=_charges_of(row["charges_json"]),
        committed_value=committed,
        remaining_cap=None if cap is None else cap - committed,
        ends_in_days=ends_in,
        ending_soon=ends_in is not None and 0 <= ends_in <= ENDING_SOON_DAYS,
        purchase_orders=purchase_orders or [],
    )


async def _check_contract(
    conn: asyncpg.Connection, values: Mapping[str, Any], current: asyncpg.Record | None = None
) -> dict[str, Any]:
    out = dict(values)
    p = Problems()
    if "reference" in out:
        out["reference"] = text(p, "reference", out["reference"], max_len=64)
    if "supplier_id" in out:
        await existing_id(conn, p, "supplier_id", "supplier", "supplier", out["supplier_id"])
    if "kind" in out:
        choice(p, "kind", out["kind"], ContractKind)
    if "title" in out:
        out["title"] = text(p, "title", out["title"], max_len=200, required=False)
    if "value_cap" in out:
        out["value_cap"] = money(p, "value_cap", out["value_cap"])
    day(p, "starts_on", out.get("starts_on"))
    day(p, "ends_on", out.get("ends_on"))
    starts = out.get("starts_on", current["starts_on"] if current is not None else None)
    ends = out.get("ends_on", current["ends_on"] if current is not None else None)
    if starts is not None and ends is not None and ends < starts:
        p.add("ends_on", "ends_on must be on or after starts_on")
    if "charges" in out:
        out["charges"] = [_check_charge(p, i, c) for i, c in enumerate(out["charges"])]
    p.raise_if_any()
    return out


def _check_charge(p: Problems, i: int, charge: Mapping[str, Any]) -> dict[str, Any]:
    at = f"charges.{i}"
    category = charge.get("category")
    if category is not None:
        choice(p, f"{at}.category", category, Category)
    return {
        "description": text(
            p, f"{at}.description", charge.get("description", ""), max_len=200, required=False
        ),
        "applies_to": choice(p, f"{at}.applies_to", charge["applies_to"], ChargeAppliesTo),
        "category": category,
        "unit_amount": money(p, f"{at}.unit_amount", charge["unit_amount"]),
        "period": choice(p, f"{at}.period", charge["period"], ChargePeriod),
    }


async def _set_charges(
    conn: asyncpg.Connection, contract_id: int, charges: Sequence[Mapping[str, Any]]
) -> None:
    await conn.execute("DELETE FROM contract_charge WHERE contract_id = $1", contract_id)
    await conn.executemany(
        "INSERT INTO contract_charge (contract_id, description, applies_to, category,"
        " unit_amount, period) VALUES ($1, $2, $3, $4, $5, $6)",
        [
            (
                contract_id,
                c["description"],
                c["applies_to"],
                c["category"],
                c["unit_amount"],
                c["period"],
            )
            for c in charges
        ],
    )


async def create_contract(
    conn: asyncpg.Connection, actor: Actor, values: Mapping[str, Any]
) -> ContractView:
    checked = await _check_contract(conn, values)
    charges = checked.pop("charges", [])
    row = await insert_row(conn, "contract", checked)
    await _set_charges(conn, row["id"], charges)
    await audit.record(
        conn, actor, "contract", row["id"], "created", after={**checked, "charges": charges}
    )
    return await get_contract(conn, row["id"])


async def get_contract(conn: asyncpg.Connection, contract_id: int) -> ContractView:
    check_id("contract", contract_id)
    row = await conn.fetchrow(f"{CONTRACT_SELECT} WHERE c.id = $1", contract_id)
    if row is None:
        raise NotFound("contract", contract_id)
    orders = await conn.fetch(
        "SELECT po.id, po.number, po.status,"
        " (SELECT COALESCE(sum(l.quantity), 0) FROM purchase_order_line l"
        "   WHERE l.purchase_order_id = po.id) AS ordered,"
        " (SELECT count(*) FROM asset a WHERE a.purchase_order_id = po.id) AS delivered"
        " FROM purchase_order po WHERE po.contract_id = $1 ORDER BY po.id",
        contract_id,
    )
    return _contract_view(row, dt.date.today(), list(orders))


async def update_contract(
    conn: asyncpg.Connection,
    actor: Actor,
    contract_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None,
) -> ContractView:
    """Change a contract; ``charges``, when given, replaces the whole list."""
    current = await lock_current(conn, "contract", "contract", contract_id, expected_version)
    checked = await _check_contract(conn, changes, current)
    changed = {k: v for k, v in checked.items() if k != "charges" and current[k] != v}
    before = {k: current[k] for k in changed}
    if "charges" in checked:
        old = _charges_of(await conn.fetchval(f"SELECT {_CHARGES_JSON.format('$1')}", contract_id))
        if old != checked["charges"]:
            changed["charges"] = checked["charges"]
            before["charges"] = old
    if not changed:
        return await get_contract(conn, contract_id)
    await write_version(
        conn, "contract", contract_id, {k: v for k, v in changed.items() if k != "charges"}
    )
    if "charges" in changed:
        await _set_charges(conn, contract_id, changed["charges"])
    await audit.record(
        conn, actor, "contract", contract_id, "updated", before=before, after=changed
    )
    return await get_contract(conn, contract_id)


async def list_contracts(
    conn: asyncpg.Connection,
    page: PageRequest,
    *,
    supplier_id: int | None = None,
    kind: str | None = None,
    ending_within_days: int | None = None,
    q: str | None = None,
) -> Page[ContractView]:
    today = dt.date.today()
    f = Filters()
    if supplier_id is not None:
        f.add("c.supplier_id = {}", supplier_id)
    if kind is not None:
        f.add("c.kind = {}", filter_choice("kind", kind, ContractKind))
    if ending_within_days is not None:
        f.add("c.ends_on BETWEEN {} AND {}", today, today + dt.timedelta(days=ending_within_days))
    if q and q.strip():
        f.add("(c.reference ILIKE {0} OR c.title ILIKE {0} OR s.name ILIKE {0})", like_pattern(q))
    found = await list_page(conn, CONTRACT_SELECT, f, page, id_column="c.id")
    return Page([_contract_view(r, today) for r in found.items], found.next_cursor)
