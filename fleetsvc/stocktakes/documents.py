"""A stocktake as the API shows it and takes it: the requests (open, a batch of scans, the
close and its choices) and the answers (the stocktake, each scan's answer, the result's
sections and their lines)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from fleetsvc.checks import text_rule
from fleetsvc.records import RecordId
from fleetsvc.stocktakes.codes import MAX_BATCH, MAX_CODE
from fleetsvc.vocabulary import (
    AssetStatus,
    ScanOutcome,
    StocktakeAction,
    StocktakeSection,
    StocktakeStatus,
    documented,
    one_of,
)


class StocktakeOpen(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /stocktakes``: count the devices kept at this location."""

    location_id: RecordId


class ScanBatch(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /stocktakes/{id}/scans``: 1 to 1,000 codes, as the scanner typed them."""

    # Litestar drops an item's own Annotated rule: the list states it.
    codes: Annotated[
        list[str],
        documented(minItems=1, maxItems=MAX_BATCH, items={"type": "string", **text_rule(MAX_CODE)}),
    ]


class StocktakeClose(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /stocktakes/{id}/close``: which moves the result calls for are made."""

    move_elsewhere_here: bool = False
    mark_missing_lost: bool = False


class StocktakeCounts(msgspec.Struct):
    """The sections' counts: each device (or unknown code) counts once, however often it
    was scanned; ``scans`` counts every scan."""

    expected: int  # kept here when counted
    scans: int
    found: int
    missing: int
    elsewhere: int
    unknown: int
    duplicates: int  # devices or codes scanned more than once


class StocktakeMoves(msgspec.Struct):
    """What closing did: devices moved here, marked lost, and lines left as they were."""

    moved_here: int
    marked_lost: int
    not_moved: int


class Stocktake(msgspec.Struct, kw_only=True):
    id: int
    location_id: int
    location: str  # its code
    location_name: str
    status: Annotated[str, one_of(StocktakeStatus)]
    opened_by: str
    opened_at: dt.datetime
    closed_by: str | None
    closed_at: dt.datetime | None
    move_elsewhere_here: bool | None  # the close's choices (None while open)
    mark_missing_lost: bool | None
    counts: StocktakeCounts
    moves: StocktakeMoves | None  # None while open
    version: int


class StocktakeLine(msgspec.Struct):
    """One device (or unknown code) of a section: what was scanned, and what the register
    says of it (as it stood when the stocktake closed, once it has)."""

    code: str | None  # the first code scanned for it (None: missing, not scanned)
    asset_id: int | None
    serial_number: str | None
    imei: str | None
    asset_tag: str | None
    model: str | None
    status: Annotated[str, one_of(AssetStatus, nullable=True)] | None
    location: str | None  # the code of the location the register has it at
    person_id: int | None  # who holds it, or the vehicle it is fitted in
    vehicle_id: int | None
    held_by: str | None  # the holder's name, or the vehicle's registration
    last_seen_at: dt.datetime | None  # its last MDM check-in
    times_scanned: int
    action: Annotated[str, one_of(StocktakeAction, nullable=True)] | None  # what closing did
    note: str | None  # why closing left it as it was


class Section(msgspec.Struct):
    count: int
    items: list[StocktakeLine]  # the first ``limit``, in scan order (missing: by asset id)


class Sections(msgspec.Struct):
    found: Section  # expected here and scanned
    missing: Section  # expected here, not scanned
    elsewhere: Section  # scanned here; the register has it elsewhere or with a holder
    unknown: Section  # scanned; in no record
    duplicates: Section  # scanned more than once (counted once in its section)


class StocktakeReport(Stocktake, kw_only=True):
    """A stocktake and its result: live while it is open, as frozen once it is closed."""

    sections: Sections


class ScanAnswer(msgspec.Struct):
    """What the person scanning is told about one code, at once."""

    code: str
    outcome: Annotated[str, one_of(ScanOutcome)]
    # Where it counts: found, elsewhere or unknown (for a code already scanned, where the
    # first scan counted it).
    counted_as: Annotated[str, one_of(StocktakeSection)]
    asset_id: int | None
    serial_number: str | None
    model: str | None
    status: Annotated[str, one_of(AssetStatus, nullable=True)] | None
    location: str | None
    held_by: str | None


class ScanResult(msgspec.Struct):
    """A batch's answers, in the order the codes were sent, and the running counts."""

    stocktake_id: int
    items: list[ScanAnswer]
    counts: StocktakeCounts
