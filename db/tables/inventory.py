"""Device models, assets, SIMs, and the links that say who or what holds them."""

from piccolo.columns import (
    Date,
    ForeignKey,
    Integer,
    Numeric,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from db.tables.common import Versioned
from db.tables.deliveries import DeliveryImport
from db.tables.org import Person, Vehicle
from db.tables.procurement import Contract


class DeviceModel(Versioned, Table, tablename="device_model", help_text="A make and model."):
    manufacturer = Varchar(length=100)
    model_name = Varchar(length=200)
    category = Varchar(length=32)
    lifecycle_months = Integer(null=True, default=None)
    replacement_cost = Numeric(digits=(12, 2), null=True, default=None)


class ModelPartNumber(Table, tablename="model_part_number", help_text="Supplier part codes."):
    model_id = ForeignKey(DeviceModel, null=False, on_delete=OnDelete.restrict)
    part_number = Varchar(length=64, unique=True, help_text="upper-case, trimmed")


class ModelAlias(Table, tablename="model_alias", help_text="Descriptions suppliers use."):
    model_id = ForeignKey(DeviceModel, null=False, on_delete=OnDelete.restrict)
    manufacturer = Varchar(length=100, help_text="lower-case")
    description = Varchar(length=300, help_text="lower-case, single-spaced")


# The references of the tables a delivery writes (asset, sim, sim_fitting) are plain integer
# columns here: the database checks them once per statement with triggers, not with foreign
# key constraints (migration 2026-12-04T09, which names each and what it references).


class Asset(Versioned, Table, tablename="asset", help_text="One physical, serialised item."):
    model_id = Integer(default=None)  # device_model.id
    manufacturer = Varchar(
        length=100, help_text="the model's, lower-case: serials are unique per maker"
    )
    serial_number = Varchar(length=64)
    imei = Varchar(length=15, null=True, default=None, unique=True)
    # Unique where set: a partial unique index (migration 2026-12-03T17:00).
    asset_tag = Varchar(length=32, null=True, default=None, unique=True)
    status = Varchar(length=16, default="in_stock")
    person_id = Integer(null=True, default=None)  # person.id
    purchase_order_id = Integer(null=True, default=None)  # purchase_order.id
    contract_id = Integer(null=True, default=None)  # contract.id
    delivery_import_id = Integer(null=True, default=None)  # delivery_import.id
    supplier_order_ref = Varchar(length=64, null=True, default=None)
    delivery_ref = Varchar(length=64, null=True, default=None)
    unit_cost = Numeric(digits=(12, 2), null=True, default=None)
    delivered_on = Date(null=True, default=None)
    in_service_on = Date(null=True, default=None)
    refresh_due_override = Date(null=True, default=None)
    refresh_due_on = Date(
        null=True, default=None, help_text="override, else in service + lifecycle"
    )
    replacement_cost_override = Numeric(digits=(12, 2), null=True, default=None)
    # Its MDM device and facts are its primary mdm_device row (migration 2026-12-04T11:00).
    disposal_certificate_ref = Varchar(length=100, null=True, default=None)
    notes = Text(default="")
    location_id = Integer(  # location.id
        null=True,
        default=None,
        help_text="where it is kept: set in stock, in repair or awaiting rebuild, else none",
    )


class Sim(Versioned, Table, tablename="sim", help_text="A SIM card and its number."):
    iccid = Varchar(length=20, unique=True)
    msisdn = Varchar(length=16, null=True, default=None, unique=True)
    contract_id = Integer(null=True, default=None)  # contract.id
    status = Varchar(length=16, default="active")
    asset_id = Integer(null=True, default=None)  # asset.id
    delivery_import_id = Integer(null=True, default=None)  # delivery_import.id
    # The open fitting, in the handset asset_id names (migration 2026-12-04T15:00:02).
    fitting_id = Integer(null=True, default=None, help_text="the open fitting's id")
    fitted_at = Timestamptz(null=True, default=None, help_text="when it was fitted")


class SimFitting(
    Table, tablename="sim_fitting", help_text="Which handset a SIM was in, when: removed fittings."
):
    sim_id = Integer(default=None)  # sim.id
    asset_id = Integer(default=None)  # asset.id
    fitted_at = Timestamptz(default=TimestamptzNow())
    removed_at = Timestamptz(null=True, default=None)


class Assignment(Table, tablename="assignment", help_text="An asset issued to a person."):
    asset_id = ForeignKey(Asset, null=False, on_delete=OnDelete.restrict)
    person_id = ForeignKey(Person, null=False, on_delete=OnDelete.restrict)
    started_at = Timestamptz(default=TimestamptzNow())
    ended_at = Timestamptz(null=True, default=None)
    end_reason = Varchar(length=200, null=True, default=None)


class Install(Versioned, Table, tablename="install", help_text="IVMA kit fitted in a vehicle."):
    job_reference = Varchar(length=64, unique=True)
    vehicle_id = ForeignKey(Vehicle, null=False, on_delete=OnDelete.restrict)
    tablet_id = ForeignKey(Asset, null=False, on_delete=OnDelete.restrict)
    dock_id = ForeignKey(Asset, null=True, default=None, on_delete=OnDelete.restrict)
    installer_contract_id = ForeignKey(
        Contract, null=True, default=None, on_delete=OnDelete.restrict
    )
    installed_on = Date()
    removed_on = Date(null=True, default=None)
    removal_reason = Varchar(length=32, null=True, default=None)
    delivery_import_id = ForeignKey(
        DeliveryImport, null=True, default=None, on_delete=OnDelete.restrict
    )
