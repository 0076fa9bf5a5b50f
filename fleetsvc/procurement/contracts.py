"""Contracts, with their recurring charges and the figures derived from their purchase
orders: the value committed, the cap left, how soon they end.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

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
    filter_choice,
    like_pattern,
    money,
    money_pattern,
    text,
)
from fleetsvc.errors import NotFound
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
from fleetsvc.vocabulary import (
    Category,
    ChargeAppliesTo,
    ChargePeriod,
    ContractKind,
    PurchaseOrderStatus,
    documented,
    one_of,
)

ENDING_SOON_DAYS = 180
PENNY = Decimal("0.01")


class Charge(msgspec.Struct):
    """A recurring charge per unit (per SIM, device or licence seat) per month or year."""

    description: str
    applies_to: Annotated[str, one_of(ChargeAppliesTo)]
    category: Annotated[str, one_of(Category, nullable=True)] | None
    unit_amount: Decimal
    period: Annotated[str, one_of(ChargePeriod)]


VALUE_CAP_DIGITS = 12  # numeric(14, 2)
ValueCap = Annotated[str, documented(pattern=money_pattern(VALUE_CAP_DIGITS))]
Reference = Annotated[str, documented_text(64)]
Title = Annotated[str, documented_text(200, required=False)]


class ChargeIn(msgspec.Struct, forbid_unknown_fields=True):
    applies_to: Annotated[str, one_of(ChargeAppliesTo)]
    unit_amount: Money
    period: Annotated[str, one_of(ChargePeriod)]
    description: Annotated[str, documented_text(200, required=False)] = ""
    category: Annotated[str, one_of(Category, nullable=True)] | None = None


# One of a contract's purchase orders, with what was ordered and delivered on it.
class ContractOrder(msgspec.Struct):
    id: int
    number: str
    status: Annotated[str, one_of(PurchaseOrderStatus)]
    ordered: int
    delivered: int


class Contract(msgspec.Struct):
    id: int
    reference: str
    supplier_id: int
    supplier_name: str
    kind: Annotated[str, one_of(ContractKind)]
    title: str
    starts_on: dt.date
    ends_on: dt.date | None
    value_cap: Decimal | None
    charges: list[Charge]
    committed_value: Decimal
    remaining_cap: Decimal | None
    ends_in_days: int | None
    ending_soon: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    # Only on a single contract (GET /contracts/{id}), not in lists.
    purchase_orders: list[ContractOrder] | msgspec.UnsetType = msgspec.UNSET


class ContractCreate(msgspec.Struct, forbid_unknown_fields=True):
    reference: Reference
    supplier_id: RecordRef
    kind: Annotated[str, one_of(ContractKind)]
    starts_on: RegisterDay
    title: Title = ""
    ends_on: RegisterDay | None = None
    value_cap: ValueCap | None = None
    charges: list[ChargeIn] = []


# ``charges``, when given, replaces the whole list.
class ContractUpdate(msgspec.Struct, forbid_unknown_fields=True):
    reference: Reference | msgspec.UnsetType = msgspec.UNSET
    supplier_id: RecordRef | msgspec.UnsetType = msgspec.UNSET
    kind: Annotated[str, one_of(ContractKind)] | msgspec.UnsetType = msgspec.UNSET
    title: Title | msgspec.UnsetType = msgspec.UNSET
    starts_on: RegisterDay | msgspec.UnsetType = msgspec.UNSET
    ends_on: RegisterDay | msgspec.UnsetType | None = msgspec.UNSET
    value_cap: ValueCap | msgspec.UnsetType | None = msgspec.UNSET
    charges: list[ChargeIn] | msgspec.UnsetType = msgspec.UNSET


# A contract's recurring charges as JSON text ({} is the contract id); money as text, exactly.
_CHARGES_JSON = (
    "(SELECT COALESCE(jsonb_agg(jsonb_build_object('description', ch.description,"
    " 'applies_to', ch.applies_to, 'category', ch.category,"
    " 'unit_amount', ch.unit_amount::text, 'period', ch.period) ORDER BY ch.id), '[]')"
    " FROM contract_charge ch WHERE ch.contract_id = {})::text"
)
_CHARGES = msgspec.json.Decoder(list[Charge])
# What a purchase order commits: cancelled orders commit nothing.
CONTRACT_SELECT = (
    "SELECT c.*, s.name AS supplier_name,"
    " (SELECT COALESCE(sum(l.quantity * l.unit_cost), 0) FROM purchase_order po"
    "   JOIN purchase_order_line l ON l.purchase_order_id = po.id"
    "   WHERE po.contract_id = c.id AND po.status <> 'cancelled') AS committed_value,"
    f" {_CHARGES_JSON.format('c.id')} AS charges_json"
    " FROM contract c JOIN supplier s ON s.id = c.supplier_id"
)


def _contract_of(
    row: asyncpg.Record,
    today: dt.date,
    purchase_orders: list[ContractOrder] | msgspec.UnsetType = msgspec.UNSET,
) -> Contract:
    """A contract as read: its row, its recurring charges and the figures derived from it."""
    committed: Decimal = row["committed_value"].quantize(PENNY)
    cap: Decimal | None = row["value_cap"]
    ends_in = (row["ends_on"] - today).days if row["ends_on"] is not None else None
    return Contract(
        id=row["id"],
        reference=row["reference"],
        supplier_id=row["supplier_id"],
        supplier_name=row["supplier_name"],
        kind=row["kind"],
        title=row["title"],
        starts_on=row["starts_on"],
        ends_on=row["ends_on"],
        value_cap=cap,
        charges=_CHARGES.decode(row["charges_json"]),
        committed_value=committed,
        remaining_cap=None if cap is None else cap - committed,
        ends_in_days=ends_in,
        ending_soon=ends_in is not None and 0 <= ends_in <= ENDING_SOON_DAYS,
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        purchase_orders=purchase_orders,
    )


class _Checked(msgspec.Struct):
    """A contract's fields as checked (for a change, those it sets): text tidied, the cap a
    Decimal, the charges checked."""

    reference: str | msgspec.UnsetType = msgspec.UNSET
    supplier_id: int | msgspec.UnsetType = msgspec.UNSET
    kind: str | msgspec.UnsetType = msgspec.UNSET
    title: str | msgspec.UnsetType = msgspec.UNSET
    starts_on: dt.date | msgspec.UnsetType = msgspec.UNSET
    ends_on: dt.date | msgspec.UnsetType | None = msgspec.UNSET
    value_cap: Decimal | msgspec.UnsetType | None = msgspec.UNSET
    charges: list[Charge] | msgspec.UnsetType = msgspec.UNSET


async def _check_contract(
    conn: asyncpg.Connection,
    data: ContractCreate | ContractUpdate,
    current: asyncpg.Record | None = None,
) -> _Checked:
    p = Problems()
    out = _Checked(starts_on=data.starts_on, ends_on=data.ends_on)
    if isinstance(data.reference, str):
        out.reference = text(p, "reference", data.reference, max_len=64)
    if isinstance(data.supplier_id, int):
        out.supplier_id = data.supplier_id
        await existing_id(conn, p, "supplier_id", "supplier", "supplier", data.supplier_id)
    if isinstance(data.kind, str):
        out.kind = data.kind
        choice(p, "kind", data.kind, ContractKind)
    if isinstance(data.title, str):
        out.title = text(p, "title", data.title, max_len=200, required=False)
    if not isinstance(data.value_cap, msgspec.UnsetType):
        out.value_cap = money(p, "value_cap", data.value_cap, digits=VALUE_CAP_DIGITS)
    day(p, "starts_on", value_or_none(data.starts_on))
    day(p, "ends_on", value_or_none(data.ends_on))
    starts: dt.date | None = current["starts_on"] if current is not None else None
    if not isinstance(data.starts_on, msgspec.UnsetType):
        starts = data.starts_on
    ends: dt.date | None = current["ends_on"] if current is not None else None
    if not isinstance(data.ends_on, msgspec.UnsetType):
        ends = data.ends_on
    if starts is not None and ends is not None and ends < starts:
        p.add("ends_on", "ends_on must be on or after starts_on")
    if not isinstance(data.charges, msgspec.UnsetType):
        out.charges = [_check_charge(p, i, c) for i, c in enumerate(data.charges)]
    p.raise_if_any()
    return out


def _check_charge(p: Problems, i: int, charge: ChargeIn) -> Charge:
    at = f"charges.{i}"
    if charge.category is not None:
        choice(p, f"{at}.category", charge.category, Category)
    description = text(p, f"{at}.description", charge.description, max_len=200, required=False)
    applies_to = choice(p, f"{at}.applies_to", charge.applies_to, ChargeAppliesTo)
    amount = money(p, f"{at}.unit_amount", charge.unit_amount)
    return Charge(
        description=description,
        applies_to=applies_to,
        category=charge.category,
        # None only when refused: the problems are raised before the charge is used.
        unit_amount=amount if amount is not None else Decimal(0),
        period=choice(p, f"{at}.period", charge.period, ChargePeriod),
    )


async def _set_charges(conn: asyncpg.Connection, contract_id: int, charges: list[Charge]) -> None:
    await replace_children(
        conn,
        "contract_charge",
        "contract_id",
        contract_id,
        Charge.__struct_fields__,
        [msgspec.structs.astuple(c) for c in charges],
    )


async def create_contract(conn: asyncpg.Connection, actor: Actor, data: ContractCreate) -> Contract:
    checked = changes_of(await _check_contract(conn, data))
    charges = checked.pop("charges", [])
    row = await insert_row(conn, "contract", checked)
    await _set_charges(conn, row["id"], charges)
    await audit.record(
        conn, actor, "contract", row["id"], "created", after={**checked, "charges": charges}
    )
    return await get_contract(conn, row["id"])


async def get_contract(conn: asyncpg.Connection, contract_id: int) -> Contract:
    """With what its purchase orders commit, the cap left, how soon it ends, and its
    purchase orders with what was ordered and delivered on each."""
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
    return _contract_of(row, dt.date.today(), [struct_of(ContractOrder, o) for o in orders])


async def update_contract(
    conn: asyncpg.Connection,
    actor: Actor,
    contract_id: int,
    changes: ContractUpdate,
    expected_version: int | None,
) -> Contract:
    """Change a contract; ``charges``, when given, replaces the whole list."""
    current = await lock_current(conn, "contract", "contract", contract_id, expected_version)
    checked = changes_of(await _check_contract(conn, changes, current))
    changed = {k: v for k, v in checked.items() if k != "charges" and current[k] != v}
    before = {k: current[k] for k in changed}
    if "charges" in checked:
        old = _CHARGES.decode(
            await conn.fetchval(f"SELECT {_CHARGES_JSON.format('$1')}", contract_id)
        )
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
) -> Page[Contract]:
    """Contracts without their purchase orders (``get_contract`` has them)."""
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
    return Page([_contract_of(r, today) for r in found.items], found.next_cursor)
