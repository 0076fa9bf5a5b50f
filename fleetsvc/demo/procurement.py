"""The demo's procurement: suppliers, contracts with their recurring charges, and the
purchase orders the deliveries arrive on, created through the domain's own checks (a
contract's charges and dates, an order's lines and its contract's value cap).

A supplier the register already has (by name) is used as it is. A contract reference or
order number the register already uses is a clash the demo does not resolve: the demo's
deliveries would land on someone else's order, so ``create_contract`` or ``create_order``
refuses it and the whole step, with everything before it, is rolled back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg

from fleetsvc.auth import Actor
from fleetsvc.demo import provenance
from fleetsvc.demo.shape import (
    CDW_PO,
    CONTRACTS,
    DOCK,
    DOCK_COST,
    FRAMEWORK_CONTRACT,
    HANDSET,
    HANDSET_CONTRACT,
    HANDSET_COST,
    HANDSET_PO_2021,
    HANDSET_PO_2022,
    SUPPLIERS,
    TABLET,
    TABLET_COST,
    ContractShape,
    DemoSize,
)
from fleetsvc.procurement.contracts import ChargeIn, ContractCreate, create_contract
from fleetsvc.procurement.purchase_orders import (
    OrderLineIn,
    PurchaseOrderCreate,
    create_order,
)
from fleetsvc.procurement.suppliers import SupplierCreate, create_supplier


@dataclass
class Procurement:
    """What the procurement step made, by kind."""

    suppliers: int = 0
    contracts: int = 0
    purchase_orders: int = 0


async def suppliers(conn: asyncpg.Connection, actor: Actor) -> tuple[dict[str, int], int]:
    """The demo's suppliers by name (the register's own where it has the name)."""
    rows = await conn.fetch(
        "SELECT id, lower(name) AS name FROM supplier WHERE lower(name) = ANY($1::text[])",
        [s.lower() for s in SUPPLIERS],
    )
    found = {r["name"]: r["id"] for r in rows}
    out, made = {}, []
    for name in SUPPLIERS:
        if name.lower() in found:
            out[name] = found[name.lower()]
            continue
        supplier = await create_supplier(conn, actor, SupplierCreate(name=name))
        out[name] = supplier.id
        made.append(supplier.id)
    await provenance.remember(conn, "supplier", made)
    return out, len(made)


def _contract(shape: ContractShape, supplier_id: int) -> ContractCreate:
    charges = []
    if shape.charge is not None:
        applies_to, category, amount, period, what = shape.charge
        charges.append(
            ChargeIn(
                applies_to=applies_to,
                category=category,
                unit_amount=amount,
                period=period,
                description=what,
            )
        )
    return ContractCreate(
        reference=shape.reference,
        supplier_id=supplier_id,
        kind=shape.kind,
        title=shape.title,
        starts_on=shape.starts_on,
        ends_on=shape.ends_on,
        value_cap=shape.value_cap,
        charges=charges,
    )


async def contracts(
    conn: asyncpg.Connection, actor: Actor, supplier_ids: dict[str, int]
) -> dict[str, int]:
    """Every contract of the demo, by reference."""
    out = {}
    for shape in CONTRACTS:
        contract = await create_contract(
            conn, actor, _contract(shape, supplier_ids[shape.supplier])
        )
        out[shape.reference] = contract.id
    await provenance.remember(conn, "contract", out.values())
    return out


async def purchase_orders(
    conn: asyncpg.Connection,
    actor: Actor,
    size: DemoSize,
    contract_ids: dict[str, int],
    models: dict[str, int],
) -> int:
    """The two handset orders on the handset contract, and the CDW order on the reseller
    framework for the tablets and docks."""
    phone, tablet, dock = (models[m.part_number] for m in (HANDSET, TABLET, DOCK))
    handsets = contract_ids[HANDSET_CONTRACT]
    orders = [
        (
            HANDSET_PO_2021,
            handsets,
            dt.date(2021, 4, 20),
            [(phone, size.handsets_2021, HANDSET_COST)],
        ),
        (
            HANDSET_PO_2022,
            handsets,
            dt.date(2022, 4, 25),
            [(phone, size.handsets_2022, HANDSET_COST)],
        ),
        (
            CDW_PO,
            contract_ids[FRAMEWORK_CONTRACT],
            dt.date(2021, 9, 1),
            [(tablet, size.tablets, TABLET_COST), (dock, size.vehicles, DOCK_COST)],
        ),
    ]
    made = []
    for number, contract_id, raised_on, lines in orders:
        order = await create_order(
            conn,
            actor,
            PurchaseOrderCreate(
                number=number,
                contract_id=contract_id,
                raised_on=raised_on,
                lines=[OrderLineIn(model_id=m, quantity=q, unit_cost=c) for m, q, c in lines],
            ),
        )
        made.append(order.id)
    await provenance.remember(conn, "purchase_order", made)
    return len(made)


async def load_procurement(
    conn: asyncpg.Connection, actor: Actor, size: DemoSize, models: dict[str, int]
) -> Procurement:
    """Suppliers, contracts and purchase orders, in the caller's transaction."""
    out = Procurement()
    supplier_ids, out.suppliers = await suppliers(conn, actor)
    contract_ids = await contracts(conn, actor, supplier_ids)
    out.contracts = len(contract_ids)
    out.purchase_orders = await purchase_orders(conn, actor, size, contract_ids, models)
    return out
