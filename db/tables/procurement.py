"""Suppliers, contracts, purchase orders and licence pools."""

from typing import Any

from piccolo.columns import Date, ForeignKey, Integer, Numeric, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.reference import LazyTableReference
from piccolo.table import Table

from db.tables.common import Versioned


class Supplier(Versioned, Table, tablename="supplier", help_text="Vodafone, CDW, Babcock, ..."):
    name = Varchar(length=200, unique=True)


class Contract(
    Versioned, Table, tablename="contract", help_text="What devices and services are bought on."
):
    reference = Varchar(length=64, unique=True)
    supplier_id = ForeignKey(Supplier, null=False, on_delete=OnDelete.restrict)
    kind = Varchar(length=32)
    title = Varchar(length=200, default="")
    starts_on = Date()
    ends_on = Date(null=True, default=None)
    value_cap = Numeric(digits=(14, 2), null=True, default=None)


class ContractCharge(Table, tablename="contract_charge", help_text="A recurring charge per unit."):
    contract_id = ForeignKey(Contract, null=False, on_delete=OnDelete.restrict)
    description = Varchar(length=200, default="")
    applies_to = Varchar(length=16, help_text="sim, device or licence_seat")
    category = Varchar(length=32, null=True, default=None, help_text="limit to a device category")
    unit_amount = Numeric(digits=(12, 2))
    period = Varchar(length=8, help_text="month or year")
    created_at = Timestamptz(default=TimestamptzNow())


class PurchaseOrder(Versioned, Table, tablename="purchase_order", help_text="A force PO."):
    number = Varchar(length=32, unique=True)
    contract_id = ForeignKey(Contract, null=False, on_delete=OnDelete.restrict)
    raised_on = Date()
    status = Varchar(length=16, default="open")


class PurchaseOrderLine(
    Table, tablename="purchase_order_line", help_text="Model x quantity x cost."
):
    purchase_order_id = ForeignKey(PurchaseOrder, null=False, on_delete=OnDelete.restrict)
    model_id: ForeignKey[Any] = ForeignKey(
        LazyTableReference("DeviceModel", module_path="db.tables.inventory"),
        null=False,
        on_delete=OnDelete.restrict,
    )
    quantity = Integer()
    unit_cost = Numeric(digits=(12, 2))


class LicencePool(Versioned, Table, tablename="licence_pool", help_text="Seats under one key."):
    product = Varchar(length=200)
    licence_key = Varchar(length=100, unique=True)
    seats = Integer()
    contract_id = ForeignKey(Contract, null=True, default=None, on_delete=OnDelete.restrict)
    purchase_order_id = ForeignKey(
        PurchaseOrder, null=True, default=None, on_delete=OnDelete.restrict
    )
    delivery_import_id: ForeignKey[Any] = ForeignKey(
        LazyTableReference("DeliveryImport", module_path="db.tables.deliveries"),
        null=True,
        default=None,
        on_delete=OnDelete.restrict,
    )
    unit_cost = Numeric(digits=(12, 2), null=True, default=None)


class LicenceSeat(Table, tablename="licence_seat", help_text="One seat given to one asset."):
    pool_id = ForeignKey(LicencePool, null=False, on_delete=OnDelete.restrict)
    asset_id: ForeignKey[Any] = ForeignKey(
        LazyTableReference("Asset", module_path="db.tables.inventory"),
        null=False,
        on_delete=OnDelete.restrict,
    )
    assigned_at = Timestamptz(default=TimestamptzNow())
