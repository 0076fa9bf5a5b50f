"""Suppliers, contracts, purchase orders and licence pools: what the fleet is bought on.

Figures that follow from other records (a contract's committed value, a
purchase order's delivered quantities, a pool's free seats) are derived when
read, never stored, so they cannot drift from the assets actually received.
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
from fleetsvc.conflicts import unique_conflicts
from fleetsvc.errors import Conflict, NotFound, ValidationFailed
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import (
    MAX_ID,
    Filters,
    check_id,
    get_record,
    insert_record,
    insert_row,
    list_page,
    lock_current,
    update_record,
    write_version,
)
from fleetsvc.vocabulary import (
    Category,
    ChargeAppliesTo,
    ChargePeriod,
    ContractKind,
    PurchaseOrderStatus,
)

ENDING_SOON_DAYS = 180
PENNY = Decimal("0.01")
MAX_LINES = 1000
MAX_QUANTITY = 1_000_000
MAX_SEATS = 10_000_000


def _gbp(amount: Decimal) -> str:
    return f"£{amount:,.2f}"


# --- suppliers -------------------------------------------------------------------------------


def _check_supplier(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    p = Problems()
    if "name" in out:
        out["name"] = text(p, "name", out["name"], max_len=200)
    p.raise_if_any()
    return out


async def create_supplier(
    conn: asyncpg.Connection, actor: Actor, values: Mapping[str, Any]
) -> asyncpg.Record:
    return await insert_record(
        conn, actor, table="supplier", entity="supplier", values=_check_supplier(values)
    )


async def get_supplier(conn: asyncpg.Connection, supplier_id: int) -> asyncpg.Record:
    check_id("supplier", supplier_id)
    return await get_record(conn, "supplier", "supplier", supplier_id)


async def update_supplier(
    conn: asyncpg.Connection,
    actor: Actor,
    supplier_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None,
) -> asyncpg.Record:
    check_id("supplier", supplier_id)
    return await update_record(
        conn,
        actor,
        table="supplier",
        entity="supplier",
        record_id=supplier_id,
        changes=_check_supplier(changes),
        expected_version=expected_version,
    )


async def list_suppliers(
    conn: asyncpg.Connection, page: PageRequest, *, name: str | None = None, q: str | None = None
) -> Page[asyncpg.Record]:
    f = Filters()
    if name is not None:
        f.add("lower(name) = lower({})", name.strip())
    if q and q.strip():
        f.add("name ILIKE {}", like_pattern(q))
    return await list_page(conn, "SELECT * FROM supplier", f, page)


# --- contracts -------------------------------------------------------------------------------

# A contract's recurring charges as JSON text ({} is the contract id); money as text, exactly.
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


# --- purchase orders -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderLine:
    model_id: int
    manufacturer: str
    model_name: str
    quantity: int
    unit_cost: Decimal
    delivered: int

    @property
    def value(self) -> Decimal:
        return self.quantity * self.unit_cost

    @property
    def outstanding(self) -> int:
        return max(0, self.quantity - self.delivered)

    @property
    def over_delivered(self) -> int:
        return max(0, self.delivered - self.quantity)


@dataclass(frozen=True, slots=True)
class OrderView:
    """A purchase order with its lines and what has been delivered against each."""

    row: asyncpg.Record
    lines: list[OrderLine]
    # Assets received on the order for models it has no line for: shown, never hidden.
    unordered: list[tuple[int, int]]

    @property
    def total_value(self) -> Decimal:
        return sum((line.value for line in self.lines), Decimal("0.00"))


PO_SELECT = (
    "SELECT po.*, c.reference AS contract_reference FROM purchase_order po"
    " JOIN contract c ON c.id = po.contract_id"
)


async def _order_views(conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> list[OrderView]:
    """Lines and delivered counts for a page of orders, in two queries for the whole page."""
    ids = [r["id"] for r in rows]
    lines = await conn.fetch(
        "SELECT l.purchase_order_id, l.model_id, m.manufacturer, m.model_name, l.quantity,"
        " l.unit_cost FROM purchase_order_line l JOIN device_model m ON m.id = l.model_id"
        " WHERE l.purchase_order_id = ANY($1) ORDER BY l.id",
        ids,
    )
    counts = await conn.fetch(
        "SELECT purchase_order_id, model_id, count(*) AS delivered FROM asset"
        " WHERE purchase_order_id = ANY($1) GROUP BY purchase_order_id, model_id"
        " ORDER BY purchase_order_id, model_id",
        ids,
    )
    delivered = {(c["purchase_order_id"], c["model_id"]): c["delivered"] for c in counts}
    by_order: dict[int, list[OrderLine]] = {i: [] for i in ids}
    for ln in lines:
        by_order[ln["purchase_order_id"]].append(
            OrderLine(
                model_id=ln["model_id"],
                manufacturer=ln["manufacturer"],
                model_name=ln["model_name"],
                quantity=ln["quantity"],
                unit_cost=ln["unit_cost"],
                delivered=delivered.get((ln["purchase_order_id"], ln["model_id"]), 0),
            )
        )
    views = []
    for r in rows:
        ordered = {ln.model_id for ln in by_order[r["id"]]}
        unordered = [
            (model_id, n)
            for (po_id, model_id), n in delivered.items()
            if po_id == r["id"] and model_id not in ordered
        ]
        views.append(OrderView(row=r, lines=by_order[r["id"]], unordered=unordered))
    return views


async def _check_order(conn: asyncpg.Connection, values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    p = Problems()
    if "number" in out:
        out["number"] = text(p, "number", out["number"], max_len=32)
    if "contract_id" in out:
        await existing_id(conn, p, "contract_id", "contract", "contract", out["contract_id"])
    if "status" in out:
        choice(p, "status", out["status"], PurchaseOrderStatus)
    day(p, "raised_on", out.get("raised_on"))
    if "lines" in out:
        out["lines"] = await _check_lines(conn, p, out["lines"])
    p.raise_if_any()
    return out


async def _check_lines(
    conn: asyncpg.Connection, p: Problems, lines: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    if len(lines) > MAX_LINES:
        p.add("lines", f"a purchase order may have at most {MAX_LINES} lines")
        return []
    wanted = [ln["model_id"] for ln in lines if 1 <= ln["model_id"] <= MAX_ID]
    known = {
        r["id"] for r in await conn.fetch("SELECT id FROM device_model WHERE id = ANY($1)", wanted)
    }
    out: list[dict[str, Any]] = []
    seen: dict[int, int] = {}
    for i, ln in enumerate(lines):
        at = f"lines.{i}"
        model_id = ln["model_id"]
        if model_id not in known:
            p.add(f"{at}.model_id", f"no device model with id {model_id}")
        elif model_id in seen:
            p.add(
                f"{at}.model_id",
                f"device model {model_id} is already on line {seen[model_id]}; one line per model",
            )
        seen.setdefault(model_id, i)
        if not 1 <= ln["quantity"] <= MAX_QUANTITY:
            p.add(f"{at}.quantity", f"quantity must be from 1 to {MAX_QUANTITY}")
        out.append(
            {
                "model_id": model_id,
                "quantity": ln["quantity"],
                "unit_cost": money(p, f"{at}.unit_cost", ln["unit_cost"]),
            }
        )
    return out


def _lines_value(lines: Sequence[Mapping[str, Any]]) -> Decimal:
    return sum((ln["quantity"] * ln["unit_cost"] for ln in lines), Decimal("0.00"))


async def _check_cap(
    conn: asyncpg.Connection, contract_id: int, order_id: int | None, requested: Decimal
) -> None:
    """Refuse an order that would take its contract over the contract's value cap.

    The contract row is locked, so two orders racing for the last of a cap are
    decided one after the other.
    """
    contract = await conn.fetchrow(
        "SELECT reference, value_cap FROM contract WHERE id = $1 FOR NO KEY UPDATE", contract_id
    )
    assert contract is not None
    cap: Decimal | None = contract["value_cap"]
    if cap is None:
        return
    committed: Decimal = await conn.fetchval(
        "SELECT COALESCE(sum(l.quantity * l.unit_cost), 0) FROM purchase_order po"
        " JOIN purchase_order_line l ON l.purchase_order_id = po.id"
        " WHERE po.contract_id = $1 AND po.status <> 'cancelled' AND po.id IS DISTINCT FROM $2",
        contract_id,
        order_id,
    )
    if committed + requested > cap:
        raise Conflict(
            f"contract {contract['reference']} has a value cap of {_gbp(cap)};"
            f" {_gbp(committed)} is already committed and this purchase order is"
            f" {_gbp(requested)}, which would exceed the cap by"
            f" {_gbp(committed + requested - cap)}",
            field="lines",
        )


async def _set_lines(
    conn: asyncpg.Connection, order_id: int, lines: Sequence[Mapping[str, Any]]
) -> None:
    await conn.execute("DELETE FROM purchase_order_line WHERE purchase_order_id = $1", order_id)
    await conn.executemany(
        "INSERT INTO purchase_order_line (purchase_order_id, model_id, quantity, unit_cost)"
        " VALUES ($1, $2, $3, $4)",
        [(order_id, ln["model_id"], ln["quantity"], ln["unit_cost"]) for ln in lines],
    )


async def create_order(
    conn: asyncpg.Connection, actor: Actor, values: Mapping[str, Any]
) -> OrderView:
    checked = await _check_order(conn, values)
    lines = checked.pop("lines", [])
    if checked.get("status", "open") != "cancelled":
        await _check_cap(conn, checked["contract_id"], None, _lines_value(lines))
    row = await insert_row(conn, "purchase_order", checked)
    await _set_lines(conn, row["id"], lines)
    await audit.record(
        conn, actor, "purchase_order", row["id"], "created", after={**checked, "lines": lines}
    )
    return await get_order(conn, row["id"])


async def get_order(conn: asyncpg.Connection, order_id: int) -> OrderView:
    check_id("purchase_order", order_id)
    row = await conn.fetchrow(f"{PO_SELECT} WHERE po.id = $1", order_id)
    if row is None:
        raise NotFound("purchase_order", order_id)
    return (await _order_views(conn, [row]))[0]


async def update_order(
    conn: asyncpg.Connection,
    actor: Actor,
    order_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None,
) -> OrderView:
    """Change an order; ``lines``, when given, replaces them all (the cap is checked again)."""
    current = await lock_current(
        conn, "purchase_order", "purchase_order", order_id, expected_version
    )
    checked = await _check_order(conn, changes)
    changed = {k: v for k, v in checked.items() if k != "lines" and current[k] != v}
    before: dict[str, Any] = {k: current[k] for k in changed}
    old_lines = [
        dict(r)
        for r in await conn.fetch(
            "SELECT model_id, quantity, unit_cost FROM purchase_order_line"
            " WHERE purchase_order_id = $1 ORDER BY id",
            order_id,
        )
    ]
    if "lines" in checked and checked["lines"] != old_lines:
        changed["lines"] = checked["lines"]
        before["lines"] = old_lines
    if not changed:
        return await get_order(conn, order_id)
    status = changed.get("status", current["status"])
    commits_more = (
        "lines" in changed
        or "contract_id" in changed
        or (current["status"] == "cancelled" and "status" in changed)
    )
    if status != "cancelled" and commits_more:
        await _check_cap(
            conn,
            changed.get("contract_id", current["contract_id"]),
            order_id,
            _lines_value(changed.get("lines", old_lines)),
        )
    await write_version(
        conn, "purchase_order", order_id, {k: v for k, v in changed.items() if k != "lines"}
    )
    if "lines" in changed:
        await _set_lines(conn, order_id, changed["lines"])
    await audit.record(
        conn, actor, "purchase_order", order_id, "updated", before=before, after=changed
    )
    return await get_order(conn, order_id)


async def list_orders(
    conn: asyncpg.Connection,
    page: PageRequest,
    *,
    contract_id: int | None = None,
    status: str | None = None,
    number: str | None = None,
) -> Page[OrderView]:
    f = Filters()
    if contract_id is not None:
        f.add("po.contract_id = {}", contract_id)
    if status is not None:
        f.add("po.status = {}", filter_choice("status", status, PurchaseOrderStatus))
    if number is not None:
        f.add("po.number = {}", number.strip())
    found = await list_page(conn, PO_SELECT, f, page, id_column="po.id")
    return Page(await _order_views(conn, found.items), found.next_cursor)


# --- licence pools ---------------------------------------------------------------------------

POOL_SELECT = (
    "SELECT lp.*, (SELECT count(*) FROM licence_seat s WHERE s.pool_id = lp.id) AS seats_used"
    " FROM licence_pool lp"
)


async def _check_pool(conn: asyncpg.Connection, values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    p = Problems()
    if "product" in out:
        out["product"] = text(p, "product", out["product"], max_len=200)
    if "licence_key" in out:
        out["licence_key"] = text(p, "licence_key", out["licence_key"], max_len=100)
    if "seats" in out and not 1 <= out["seats"] <= MAX_SEATS:
        p.add("seats", f"seats must be from 1 to {MAX_SEATS}")
    if "contract_id" in out:
        await existing_id(conn, p, "contract_id", "contract", "contract", out["contract_id"])
    if "purchase_order_id" in out:
        await existing_id(
            conn,
            p,
            "purchase_order_id",
            "purchase_order",
            "purchase order",
            out["purchase_order_id"],
        )
    if "unit_cost" in out:
        out["unit_cost"] = money(p, "unit_cost", out["unit_cost"])
    p.raise_if_any()
    return out


async def create_pool(
    conn: asyncpg.Connection, actor: Actor, values: Mapping[str, Any]
) -> asyncpg.Record:
    checked = await _check_pool(conn, values)
    row = await insert_record(
        conn, actor, table="licence_pool", entity="licence_pool", values=checked
    )
    return await get_pool(conn, row["id"])


async def get_pool(conn: asyncpg.Connection, pool_id: int) -> asyncpg.Record:
    check_id("licence_pool", pool_id)
    row = await conn.fetchrow(f"{POOL_SELECT} WHERE lp.id = $1", pool_id)
    if row is None:
        raise NotFound("licence_pool", pool_id)
    return row


async def update_pool(
    conn: asyncpg.Connection,
    actor: Actor,
    pool_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None,
) -> asyncpg.Record:
    await lock_current(conn, "licence_pool", "licence_pool", pool_id, expected_version)
    checked = await _check_pool(conn, changes)
    if "seats" in checked:
        used = await _seats_used(conn, pool_id)
        if checked["seats"] < used:
            raise ValidationFailed.one(
                "seats", f"seats cannot be fewer than the {used} seats in use"
            )
    await update_record(
        conn,
        actor,
        table="licence_pool",
        entity="licence_pool",
        record_id=pool_id,
        changes=checked,
        expected_version=expected_version,
    )
    return await get_pool(conn, pool_id)


async def _seats_used(conn: asyncpg.Connection, pool_id: int) -> int:
    used: int = await conn.fetchval("SELECT count(*) FROM licence_seat WHERE pool_id = $1", pool_id)
    return used


async def list_pools(
    conn: asyncpg.Connection,
    page: PageRequest,
    *,
    contract_id: int | None = None,
    licence_key: str | None = None,
    q: str | None = None,
) -> Page[asyncpg.Record]:
    f = Filters()
    if contract_id is not None:
        f.add("lp.contract_id = {}", contract_id)
    if licence_key is not None:
        f.add("lp.licence_key = {}", licence_key.strip())
    if q and q.strip():
        f.add("lp.product ILIKE {}", like_pattern(q))
    return await list_page(conn, POOL_SELECT, f, page, id_column="lp.id")


async def assign_seat(
    conn: asyncpg.Connection, actor: Actor, pool_id: int, asset_id: int
) -> asyncpg.Record:
    """Give an asset a seat in the pool; a full pool or a second seat is a 409.

    The pool row is locked first, so concurrent assignments for the last seat
    are counted one after the other and exactly one wins.
    """
    check_id("licence_pool", pool_id)
    pool = await get_record(conn, "licence_pool", "licence_pool", pool_id, for_update=True)
    p = Problems()
    await existing_id(conn, p, "asset_id", "asset", "asset", asset_id)
    p.raise_if_any()
    held = await conn.fetchval(
        "SELECT id FROM licence_seat WHERE pool_id = $1 AND asset_id = $2", pool_id, asset_id
    )
    if held is not None:
        raise Conflict(
            f"asset {asset_id} already has a seat in licence pool {pool_id}",
            existing_id=held,
            field="asset_id",
        )
    used = await _seats_used(conn, pool_id)
    if used >= pool["seats"]:
        raise Conflict(
            f"licence pool {pool_id} ({pool['product']}) is full: all {pool['seats']} seats"
            " are in use; release one or add seats"
        )
    async with unique_conflicts(conn):
        seat = await conn.fetchrow(
            "INSERT INTO licence_seat (pool_id, asset_id) VALUES ($1, $2) RETURNING *",
            pool_id,
            asset_id,
        )
    assert seat is not None
    await audit.record_many(
        conn,
        actor,
        [
            audit.EventRow("licence_pool", pool_id, "seat_assigned", None, {"asset_id": asset_id}),
            audit.EventRow(
                "asset",
                asset_id,
                "licence_seat_assigned",
                None,
                {"licence_pool_id": pool_id, "product": pool["product"]},
            ),
        ],
    )
    return seat


async def release_seat(
    conn: asyncpg.Connection, actor: Actor, pool_id: int, asset_id: int
) -> asyncpg.Record:
    check_id("licence_pool", pool_id)
    pool = await get_record(conn, "licence_pool", "licence_pool", pool_id, for_update=True)
    released = (
        await conn.fetchrow(
            "DELETE FROM licence_seat WHERE pool_id = $1 AND asset_id = $2 RETURNING id",
            pool_id,
            asset_id,
        )
        if 1 <= asset_id <= MAX_ID
        else None
    )
    if released is None:
        raise NotFound(f"seat in licence pool {pool_id} for the asset", asset_id)
    await audit.record_many(
        conn,
        actor,
        [
            audit.EventRow("licence_pool", pool_id, "seat_released", {"asset_id": asset_id}, None),
            audit.EventRow(
                "asset",
                asset_id,
                "licence_seat_released",
                {"licence_pool_id": pool_id, "product": pool["product"]},
                None,
            ),
        ],
    )
    return await get_pool(conn, pool_id)


async def list_seats(
    conn: asyncpg.Connection, pool_id: int, page: PageRequest
) -> Page[asyncpg.Record]:
    """The pool's seats, oldest assignment first."""
    await get_pool(conn, pool_id)
    f = Filters()
    f.add("pool_id = {}", pool_id)
    return await list_page(
        conn, "SELECT id, pool_id, asset_id, assigned_at FROM licence_seat", f, page
    )
