"""Purchase orders, with their lines and what has been delivered against each; an order
that would take its contract over its value cap is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.checks import (
    Problems,
    choice,
    day,
    existing_id,
    filter_choice,
    money,
    text,
)
from fleetsvc.errors import Conflict, NotFound
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import (
    MAX_ID,
    Filters,
    check_id,
    insert_row,
    list_page,
    lock_current,
    write_version,
)
from fleetsvc.vocabulary import (
    PurchaseOrderStatus,
)

MAX_LINES = 1000
MAX_QUANTITY = 1_000_000


def _gbp(amount: Decimal) -> str:
    return f"£{amount:,.2f}"


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
