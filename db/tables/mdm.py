"""MDM sync runs and the latest record the MDM holds for each device."""

from typing import Any

from piccolo.columns import (
    JSONB,
    BigSerial,
    Boolean,
    Bytea,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.reference import LazyTableReference
from piccolo.table import Table


class MdmRun(Table, tablename="mdm_run", help_text="One sync run, in one or many batches."):
    run_key = Varchar(length=64, unique=True, help_text="the client's run_id")
    source = Varchar(length=8, help_text="push, file or pull")
    status = Varchar(length=8, default="open")
    created_by = Varchar(length=100)
    started_at = Timestamptz(default=TimestamptzNow())
    closed_at = Timestamptz(null=True, default=None)
    batches = Integer(default=0)
    counts = JSONB(default="{}")


class MdmDevice(Table, tablename="mdm_device", help_text="The MDM's latest word on a device."):
    mdm_device_id = Varchar(length=64, unique=True)
    serial_number = Varchar(length=64, null=True, default=None)
    imei = Varchar(length=15, null=True, default=None)
    device_name = Varchar(length=200, default="")
    user_upn = Varchar(length=254, null=True, default=None)
    compliance = Varchar(length=32, null=True, default=None)
    last_sync_at = Timestamptz(null=True, default=None)
    enrolled_at = Timestamptz(null=True, default=None)
    operating_system = Varchar(length=32, null=True, default=None)
    os_version = Varchar(length=64, null=True, default=None)
    manufacturer = Varchar(length=100, null=True, default=None)
    model = Varchar(length=100, null=True, default=None)
    owner_type = Varchar(length=32, null=True, default=None)
    phone_number = Varchar(length=16, null=True, default=None)
    asset_id: ForeignKey[Any] = ForeignKey(
        LazyTableReference("Asset", module_path="db.tables.inventory"),
        null=True,
        default=None,
        on_delete=OnDelete.restrict,
    )
    last_run_id = ForeignKey(MdmRun, null=True, default=None, on_delete=OnDelete.restrict)
    updated_at = Timestamptz(default=TimestamptzNow())
    # md5 of the record's facts as stored (fleetsvc.mdm.apply): an unchanged record is told
    # apart by it without being matched to the register again.
    facts_hash = Bytea(null=True, default=None)
    # Its asset's MDM device: at most one per asset (mdm_device_primary_uq), the asset's
    # MDM facts are this record's.
    is_primary = Boolean(default=False)


class MdmRunIssue(Table, tablename="mdm_run_issue", help_text="A record a run rejected."):
    id = BigSerial(primary_key=True)
    run_id = ForeignKey(MdmRun, null=False, on_delete=OnDelete.restrict)
    batch_no = Integer()
    record_index = Integer()
    mdm_device_id = Varchar(length=64, null=True, default=None)
    field = Varchar(length=64, null=True, default=None)
    message = Text()
