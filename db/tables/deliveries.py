"""Delivery imports: each uploaded file, its row issues and rejected rows."""

from typing import Any

from piccolo.columns import (
    JSONB,
    BigInt,
    BigSerial,
    Boolean,
    Date,
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

from db.tables.jobs import Job
from db.tables.stock import Location


class DeliveryImport(Table, tablename="delivery_import", help_text="One uploaded file."):
    profile = Varchar(length=64)
    file_name = Varchar(length=255)
    sha256 = Varchar(length=64)
    size_bytes = BigInt(default=0)
    status = Varchar(length=16, default="running")
    allow_partial = Boolean(default=False)
    created_by = Varchar(length=100)
    created_role = Varchar(length=16)
    created_at = Timestamptz(default=TimestamptzNow())
    committed_by = Varchar(length=100, null=True, default=None)
    committed_at = Timestamptz(null=True, default=None)
    counts = JSONB(default="{}")
    summary = JSONB(default="{}")
    request_id = Varchar(length=64, null=True, default=None)
    location_id = ForeignKey(
        Location,
        null=True,
        default=None,
        on_delete=OnDelete.restrict,
        help_text="where a delivery's devices arrive",
    )
    job_id = ForeignKey(
        Job,
        null=True,
        default=None,
        on_delete=OnDelete.restrict,
        help_text="the job that commits it (the latest)",
    )


class ImportIssue(Table, tablename="import_issue", help_text="A row error or warning."):
    id = BigSerial(primary_key=True)
    import_id = ForeignKey(DeliveryImport, null=False, on_delete=OnDelete.restrict)
    row_number = Integer(null=True, default=None)
    severity = Varchar(length=8)
    column_name = Varchar(length=200, null=True, default=None)
    value = Text(null=True, default=None)
    message = Text()
    outcome = Varchar(
        length=16, null=True, default=None, help_text="an error's row: rejected or conflict"
    )


class ImportRejectedRow(Table, tablename="import_rejected_row", help_text="A rejected row, kept."):
    id = BigSerial(primary_key=True)
    import_id = ForeignKey(DeliveryImport, null=False, on_delete=OnDelete.restrict)
    row_number = Integer()
    cells = JSONB(help_text="header text -> cell text, as uploaded")


class InstallJob(Table, tablename="install_job", help_text="An installer's job, done or not."):
    job_reference = Varchar(length=64, unique=True)
    status = Varchar(length=16, help_text="completed, aborted or deferred")
    completed_on = Date(null=True, default=None)
    fleet_number = Varchar(length=32, default="")
    vrm = Varchar(length=8, default="")
    vehicle_description = Varchar(length=200, default="")
    workshop = Varchar(length=200, default="")
    tablet_serial = Varchar(length=64, default="")
    dock_serial = Varchar(length=64, null=True, default=None)
    engineer_id = Varchar(length=32, default="")
    comments = Text(default="")
    install_id: ForeignKey[Any] = ForeignKey(
        LazyTableReference("Install", module_path="db.tables.inventory"),
        null=True,
        default=None,
        on_delete=OnDelete.restrict,
    )
    delivery_import_id = ForeignKey(
        DeliveryImport, null=True, default=None, on_delete=OnDelete.restrict
    )
    created_at = Timestamptz(default=TimestamptzNow())
