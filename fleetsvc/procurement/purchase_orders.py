"""Purchase orders, with their lines and what has been delivered against each; an order
that would take its contract over its value cap is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
import msgspec

from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.checks import (
    Money,
    Problems,
    RegisterDay,
    choice,
    day,
    documented_text,
    existing_id,
    existing_ids,
    filter_choice,
    money,
    text,
)
from fleetsvc.errors import Conflict, NotFound
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import (
    Filters,
    RecordRef,
    changes_of,
    check_id,
    insert_row,
    list_page,
    lock_current,
    replace_children,
    struct_of,
    value_or_none,
    write_version,
)
from fleetsvc.vocabulary import PurchaseOrderStatus, documented, one_of

MAX_LINES = 1000
MAX_QUANTITY = 1_000_000
_LINE_COLUMNS = ("model_id", "quantity", "unit_cost")


# A line of an order, with what has been delivered on it (the assets received).
class OrderLine(msgspec.Struct):
    model_id: int
    manufacturer: str
    model_name: str
    quantity: int
    unit_cost: Decimal
    value: Decimal
    delivered: int
    outstanding: int
    over_delivered: int


class UnorderedDelivery(msgspec.Struct):
    """Assets received on the order for a model it has no line for."""

    model_id: int
    delivered: int


class OrderLineIn(msgspec.Struct, forbid_unknown_fields=True):
    model_id: RecordRef
    quantity: Annotated[int, documented(minimum=1, maximum=MAX_QUANTITY)]
    unit_cost: Money


class PurchaseOrder(msgspec.Struct):
    id: int
    number: str
    contract_id: int
    contract_reference: str
    raised_on: dt.date
    status: Annotated[str, one_of(PurchaseOrderStatus)]
    lines: list[OrderLine]
    # Assets received on the order for models it has no line for: shown, never hidden.
    unordered_deliveries: list[UnorderedDelivery]
    total_value: Decimal
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


Number = Annotated[str, documented_text(32)]
Lines = Annotated[list[OrderLineIn], documented(maxItems=MAX_LINES)]


class PurchaseOrderCreate(msgspec.Struct, forbid_unknown_fields=True):
    number: Number
    contract_id: RecordRef
    raised_on: RegisterDay
    status: Annotated[str, one_of(PurchaseOrderStatus)] = "open"
    lines: Lines = []


# ``lines``, when given, replaces them all.
class PurchaseOrderUpdate(msgspec.Struct, forbid_unknown_fields=True):
    number: Number | msgspec.UnsetType = msgspec.UNSET
    contract_id: RecordRef | msgspec.UnsetType = msgspec.UNSET
    raised_on: RegisterDay | msgspec.UnsetType = msgspec.UNSET
    status: Annotated[str, one_of(PurchaseOrderStatus)] | msgspec.UnsetType = msgspec.UNSET
    lines: Lines | msgspec.UnsetType = msgspec.UNSET


def _gbp(amount: Decimal) -> str:
    return f"£{amount:,.2f}"


PO_SELECT = (
    "SELECT po.*, c.reference AS contract_reference FROM purchase_order po"
    " JOIN contract c ON c.id = po.contract_id"
)


def _line_of(row: asyncpg.Record, delivered: int) -> OrderLine:
    quantity: int = row["quantity"]
    unit_cost: Decimal = row["unit_cost"]
    return OrderLine(
        model_id=row["model_id"],
        manufacturer=row["manufacturer"],
        model_name=row["model_name"],
        quantity=quantity,
        unit_cost=unit_cost,
        value=quantity * unit_cost,
        delivered=delivered,
        outstanding=max(0, quantity - delivered),
        over_delivered=max(0, delivered - quantity),
    )


def _order_of(
    row: asyncpg.Record, lines: list[OrderLine], unordered: list[UnorderedDelivery]
) -> PurchaseOrder:
    return PurchaseOrder(
        id=row["id"],
        number=row["number"],
        contract_id=row["contract_id"],
        contract_reference=row["contract_reference"],
        raised_on=row["raised_on"],
        status=row["status"],
        lines=lines,
        unordered_deliveries=unordered,
        total_value=sum((line.value for line in lines), Decimal("0.00")),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _orders_of(
    conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]
) -> list[PurchaseOrder]:
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
        key = (ln["purchase_order_id"], ln["model_id"])
        by_order[ln["purchase_order_id"]].append(_line_of(ln, delivered.get(key, 0)))
    orders = []
    for r in rows:
        ordered = {ln.model_id for ln in by_order[r["id"]]}
        unordered = [
            UnorderedDelivery(model_id, n)
            for (po_id, model_id), n in delivered.items()
            if po_id == r["id"] and model_id not in ordered
        ]
        orders.append(_order_of(r, by_order[r["id"]], unordered))
    return orders


class _Line(msgspec.Struct):
    """An order line as written: the model, how many, the unit cost as a Decimal."""

    model_id: int
    quantity: int
    unit_cost: Decimal


class _Checked(msgspec.Struct):
    """An order's fields as checked (for a change, those it sets): the number tidied, the
    lines checked."""

    number: str | msgspec.UnsetType = msgspec.UNSET
    contract_id: int | msgspec.UnsetType = msgspec.UNSET
    raised_on: dt.date | msgspec.UnsetType = msgspec.UNSET
    status: str | msgspec.UnsetType = msgspec.UNSET
    lines: list[_Line] | msgspec.UnsetType = msgspec.UNSET


async def _check_order(
    conn: asyncpg.Connection, data: PurchaseOrderCreate | PurchaseOrderUpdate
) -> _Checked:
    p = Problems()
    out = _Checked(contract_id=data.contract_id, raised_on=data.raised_on, status=data.status)
    if isinstance(data.number, str):
        out.number = text(p, "number", data.number, max_len=32)
    if isinstance(data.contract_id, int):
        await existing_id(conn, p, "contract_id", "contract", "contract", data.contract_id)
    if isinstance(data.status, str):
        choice(p, "status", data.status, PurchaseOrderStatus)
    day(p, "raised_on", value_or_none(data.raised_on))
    if not isinstance(data.lines, msgspec.UnsetType):
        out.lines = await _check_lines(conn, p, data.lines)
    p.raise_if_any()
    return out


async def _check_lines(
    conn: asyncpg.Connection, p: Problems, lines: Sequence[OrderLineIn]
) -> list[_Line]:
    if len(lines) > MAX_LINES:
        p.add("lines", f"a purchase order may have at most {MAX_LINES} lines")
        return []
    known = await existing_ids(conn, "device_model", (ln.model_id for ln in lines))
    out: list[_Line] = []
    seen: dict[int, int] = {}
    for i, ln in enumerate(lines):
        at = f"lines.{i}"
        if ln.model_id not in known:
            p.add(f"{at}.model_id", f"no device model with id {ln.model_id}")
        elif ln.model_id in seen:
            p.add(
                f"{at}.model_id",
                f"device model {ln.model_id} is already on line {seen[ln.model_id]};"
                " one line per model",
            )
        seen.setdefault(ln.model_id, i)
        if not 1 <= ln.quantity <= MAX_QUANTITY:
            p.add(f"{at}.quantity", f"quantity must be from 1 to {MAX_QUANTITY}")
        cost = money(p, f"{at}.unit_cost", ln.unit_cost)
        # None only when refused: the problems are raised before the line is used.
        out.append(_Line(ln.model_id, ln.quantity, cost if cost is not None else Decimal(0)))
    return out


def _lines_value(lines: Sequence[_Line]) -> Decimal:
    return sum((ln.quantity * ln.unit_cost for ln in lines), Decimal("0.00"))


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


async def _set_lines(conn: asyncpg.Connection, order_id: int, lines: Sequence[_Line]) -> None:
    await replace_children(
        conn,
        "purchase_order_line",
        "purchase_order_id",
        order_id,
        _LINE_COLUMNS,
        [msgspec.structs.astuple(ln) for ln in lines],
    )


async def create_order(
    conn: asyncpg.Connection, actor: Actor, data: PurchaseOrderCreate
) -> PurchaseOrder:
    """Refused (409) when its value would take the contract over its value cap."""
    checked = changes_of(await _check_order(conn, data))
    lines = checked.pop("lines", [])
    if checked.get("status", "open") != "cancelled":
        await _check_cap(conn, checked["contract_id"], None, _lines_value(lines))
    row = await insert_row(conn, "purchase_order", checked)
    await _set_lines(conn, row["id"], lines)
    await audit.record(
        conn, actor, "purchase_order", row["id"], "created", after={**checked, "lines": lines}
    )
    return await get_order(conn, row["id"])


async def get_order(conn: asyncpg.Connection, order_id: int) -> PurchaseOrder:
    check_id("purchase_order", order_id)
    row = await conn.fetchrow(f"{PO_SELECT} WHERE po.id = $1", order_id)
    if row is None:
        raise NotFound("purchase_order", order_id)
    return (await _orders_of(conn, [row]))[0]


async def update_order(
    conn: asyncpg.Connection,
    actor: Actor,
    order_id: int,
    changes: PurchaseOrderUpdate,
    expected_version: int | None,
) -> PurchaseOrder:
    """Change an order; ``lines``, when given, replaces them all (the cap is checked again)."""
    current = await lock_current(
        conn, "purchase_order", "purchase_order", order_id, expected_version
    )
    checked = changes_of(await _check_order(conn, changes))
    changed = {k: v for k, v in checked.items() if k != "lines" and current[k] != v}
    before: dict[str, Any] = {k: current[k] for k in changed}
    old_lines = [
        struct_of(_Line, r)
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
    await _check_cap_again(conn, current, changed, old_lines)
    await write_version(
        conn, "purchase_order", order_id, {k: v for k, v in changed.items() if k != "lines"}
    )
    if "lines" in changed:
        await _set_lines(conn, order_id, changed["lines"])
    await audit.record(
        conn, actor, "purchase_order", order_id, "updated", before=before, after=changed
    )
    return await get_order(conn, order_id)


async def _check_cap_again(
    conn: asyncpg.Connection,
    current: asyncpg.Record,
    changed: Mapping[str, Any],
    old_lines: Sequence[_Line],
) -> None:
    """A change that commits more (new lines, another contract, or an order no longer
    cancelled) is checked against the contract's cap again."""
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
            current["id"],
            _lines_value(changed.get("lines", old_lines)),
        )


async def list_orders(
    conn: asyncpg.Connection,
    page: PageRequest,
    *,
    contract_id: int | None = None,
    status: str | None = None,
    number: str | None = None,
) -> Page[PurchaseOrder]:
    f = Filters()
    if contract_id is not None:
        f.add("po.contract_id = {}", contract_id)
    if status is not None:
        f.add("po.status = {}", filter_choice("status", status, PurchaseOrderStatus))
    if number is not None:
        f.add("po.number = {}", number.strip())
    found = await list_page(conn, PO_SELECT, f, page, id_column="po.id")
    return Page(await _orders_of(conn, found.items), found.next_cursor)
