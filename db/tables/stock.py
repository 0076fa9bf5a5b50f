"""Where devices not with a holder are kept (locations), and counting one by scanning
(stocktakes, their scans, and the result a closed stocktake freezes).

The rules Piccolo cannot say (vocabularies, one open stocktake per location, an asset's
location tied to its status) are in the stock migration's raw SQL.
"""

from typing import Any

from piccolo.columns import BigSerial, Boolean, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import JSONB
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.reference import LazyTableReference
from piccolo.table import Table

from db.tables.common import Versioned
from db.tables.org import BusinessUnit


class Location(Versioned, Table, tablename="location", help_text="A store or station."):
    code = Varchar(length=32, unique=True, help_text="upper-case, trimmed")
    name = Varchar(length=200)
    business_unit_id = ForeignKey(
        BusinessUnit, null=True, default=None, on_delete=OnDelete.restrict
    )


class Stocktake(Versioned, Table, tablename="stocktake", help_text="A count of one location."):
    location_id = ForeignKey(Location, null=False, on_delete=OnDelete.restrict)
    status = Varchar(length=16, default="open")
    opened_by = Varchar(length=100)
    opened_role = Varchar(length=16)
    closed_by = Varchar(length=100, null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    move_elsewhere_here = Boolean(null=True, default=None, help_text="the close's choice")
    mark_missing_lost = Boolean(null=True, default=None, help_text="the close's choice")
    counts = JSONB(null=True, default=None, help_text="the section counts, frozen at close")


class StocktakeScan(Table, tablename="stocktake_scan", help_text="One code scanned."):
    id = BigSerial(primary_key=True)
    stocktake_id = ForeignKey(Stocktake, null=False, on_delete=OnDelete.restrict)
    code = Varchar(length=64, help_text="as scanned, trimmed")
    asset_id: ForeignKey[Any] = ForeignKey(
        LazyTableReference("Asset", module_path="db.tables.inventory"),
        null=True,
        default=None,
        on_delete=OnDelete.restrict,
        help_text="the device the code named when it was scanned (none: unknown)",
    )
    outcome = Varchar(length=16, help_text="what the scanner was told")
    scanned_by = Varchar(length=100)
    scanned_at = Timestamptz(default=TimestamptzNow())


class StocktakeItem(Table, tablename="stocktake_item", help_text="A closed stocktake's result."):
    """One line of a closed stocktake's result, as the register stood when it closed (the
    device's facts are copied, so a later change does not rewrite the count). People are
    named by id only: their names are read from ``person`` when the result is shown."""

    id = BigSerial(primary_key=True)
    stocktake_id = ForeignKey(Stocktake, null=False, on_delete=OnDelete.restrict)
    section = Varchar(length=16)
    code = Varchar(length=64, null=True, default=None)
    asset_id = Integer(null=True, default=None)
    serial_number = Varchar(length=64, null=True, default=None)
    imei = Varchar(length=15, null=True, default=None)
    asset_tag = Varchar(length=32, null=True, default=None)
    model = Varchar(length=300, null=True, default=None)
    status = Varchar(length=16, null=True, default=None)
    location_id = Integer(null=True, default=None)
    person_id = Integer(null=True, default=None)
    vehicle_id = Integer(null=True, default=None)
    last_seen_at = Timestamptz(null=True, default=None)
    times_scanned = Integer(default=0)
    action = Varchar(length=16, null=True, default=None, help_text="what closing did to it")
    note = Varchar(length=200, null=True, default=None)
