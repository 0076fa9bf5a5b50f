"""Recovering a leaver's devices: one case per leaver, one line per device they held (with
the licence seats on it), each line closed when its device is back or written off; a
leaver who comes back has their case cancelled.

The rules Piccolo cannot say (vocabularies, one open case per person, one open line per
device, a line closing only once its device has left the leaver) are in the recoveries
migration's raw SQL.
"""

from typing import Any

from piccolo.columns import JSONB, Date, ForeignKey, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.reference import LazyTableReference
from piccolo.table import Table

from db.tables.common import Versioned
from db.tables.org import BusinessUnit, Person


class RecoveryCase(
    Versioned, Table, tablename="recovery_case", help_text="A leaver's devices to recover."
):
    person_id = ForeignKey(Person, null=False, on_delete=OnDelete.restrict)
    business_unit_id = ForeignKey(
        BusinessUnit,
        null=True,
        default=None,
        on_delete=OnDelete.restrict,
        help_text="the person's business unit when the case opened",
    )
    status = Varchar(length=16, default="open")
    left_on = Date(help_text="the leaving date the case was opened for")
    due_on = Date(help_text="overdue after this day (FLEETSVC_RECOVERY_DUE_DAYS)")
    opened_at = Timestamptz(default=TimestamptzNow())
    opened_by = Varchar(length=100)
    closed_at = Timestamptz(null=True, default=None)
    reason = Varchar(
        length=32, null=True, default=None, help_text="why it was cancelled (returned)"
    )


class RecoveryLine(Table, tablename="recovery_line", help_text="One device of a recovery case."):
    case_id = ForeignKey(RecoveryCase, null=False, on_delete=OnDelete.restrict)
    asset_id: ForeignKey[Any] = ForeignKey(
        LazyTableReference("Asset", module_path="db.tables.inventory"),
        null=False,
        on_delete=OnDelete.restrict,
    )
    licence_seats = JSONB(
        default="[]", help_text="the licence seats on the device when the case opened"
    )
    status = Varchar(length=16, default="open")
    reason = Varchar(
        length=500, null=True, default=None, help_text="why it was written off or cancelled"
    )
    closed_to = Varchar(
        length=16, null=True, default=None, help_text="the status the device moved to"
    )
    closed_at = Timestamptz(null=True, default=None)
    closed_by = Varchar(length=100, null=True, default=None)
