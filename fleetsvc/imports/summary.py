"""The import summary, typed: what an import's rows came to and what its report says.

An import keeps two JSON columns. ``counts`` holds a ``Counts`` (rows by outcome, and what a
commit adds: SIMs and licence seats, or installs and vehicles); while the file is read it
holds a ``StagedCounts``. ``summary`` holds an ``ImportSummary`` (the file's columns and
headers, its warnings, the purchase-order and licence lines, the message). ``DeliveryImport``
is one import as the API answers with it and the CLI prints it. The run, the evaluation, the
API and the CLI read and write these fields, never the JSON's keys.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from fleetsvc.vocabulary import ImportStatus, one_of


class FileWarning(msgspec.Struct):
    """A warning of the report that is not about one cell: the file's layout, a file
    committed before, a purchase-order line, SIMs with no airtime contract."""

    row: int | None
    message: str


class StoredWarning(msgspec.Struct, omit_defaults=True):
    """A ``FileWarning`` as the summary keeps it. ``generated`` marks what the checks found
    (not the file's layout): each evaluation drops those and finds them afresh."""

    row: int | None
    message: str
    generated: bool = False

    def shown(self) -> FileWarning:
        return FileWarning(row=self.row, message=self.message)


class PurchaseOrderLine(msgspec.Struct):
    """What a delivery does to one model of a purchase order (``ordered`` is None when the
    model is not on the order)."""

    po_number: str
    purchase_order_id: int
    model_id: int
    model: str
    ordered: int | None
    delivered_before: int
    in_file: int
    new: int
    over_delivered: int


class LicenceLine(msgspec.Struct):
    """The seats a delivery adds to one licence key."""

    licence_key: str
    product: str | None
    seats_new: int
    rows: int
    pool_exists: bool


class PreviousImport(msgspec.Struct):
    """The import that committed the same file (same content, same profile) before."""

    id: int
    committed_at: str


class Skipped(msgspec.Struct):
    """Rows of the file that are not data and were not read."""

    blank: int = 0
    repeated_header: int = 0
    totals: int = 0


class ImportSummary(msgspec.Struct, kw_only=True):
    """The ``summary`` column: written when the import is created (the file's layout), once
    the file is read (its warnings, what was skipped) and by each evaluation (the rest)."""

    kind: str = "delivery"  # the profile's kind: delivery or install
    format: str = ""
    fields: list[str] = []  # the canonical fields the file has, in the staged cells' order
    headers: list[str] = []  # the file's own header of each of those fields
    header_row: int | None = None
    skipped: Skipped | None = None
    file_warnings: list[StoredWarning] = []
    previous_import: PreviousImport | None = None
    po_lines: list[PurchaseOrderLine] = []
    licences: list[LicenceLine] = []
    message: str | None = None  # why nothing was committed, or why the import failed
    # A people feed: active people the register holds that the file does not list (ids,
    # the first NOT_IN_FILE_SHOWN); nobody is deleted for being missing.
    not_in_file: list[int] = []


class StagedCounts(msgspec.Struct):
    """The ``counts`` column while the file is read: rows staged so far and, once the first
    batch is in, how many of them the parser rejected and how many warnings it gave."""

    rows: int = 0
    rejected: int | UnsetType = UNSET
    warnings: int | UnsetType = UNSET


class Counts(msgspec.Struct, kw_only=True):
    """The ``counts`` column once the rows are classified: rows by outcome, and warnings."""

    rows: int
    new: int = 0
    unchanged: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    warnings: int = 0

    @property
    def blocking(self) -> int:
        """Rows rejected or in conflict: while there are any, a commit commits nothing
        (unless allow_partial)."""
        return self.rejected + self.conflicts

    def add(self, outcome: str, rows: int) -> None:
        """Count ``rows`` rows of one outcome of the plan."""
        if outcome == "new":
            self.new += rows
        elif outcome == "unchanged":
            self.unchanged += rows
        elif outcome == "duplicate":
            self.duplicates += rows
        elif outcome == "conflict":
            self.conflicts += rows
        elif outcome == "rejected":
            self.rejected += rows
        else:
            raise ValueError(f"no such outcome of an import row: {outcome}")


class DeliveryCounts(Counts, kw_only=True):
    """A delivery's counts: ``new`` counts items; licence lines are counted apart."""

    sims: int = 0
    licence_rows: int = 0
    licence_seats: int = 0


class InstallCounts(Counts, kw_only=True):
    """An install file's counts: ``new`` counts jobs, of which ``installs`` fit kit."""

    installs: int = 0
    vehicles_created: int = 0


class PeopleCounts(Counts, kw_only=True):
    """A people feed's counts: ``new`` counts people created or changed, of whom
    ``leavers`` leave; ``not_in_file`` active people the file does not list; a commit's
    ``cases_opened`` recovery cases for leavers holding devices, and ``cases_cancelled``
    the open cases of leavers the file brings back (a blank leaving date)."""

    created: int = 0
    updated: int = 0
    leavers: int = 0
    not_in_file: int = 0
    cases_opened: int = 0
    cases_cancelled: int = 0


class DeliveryImport(msgspec.Struct):
    """One uploaded file and what it did (or would do)."""

    id: int
    profile: str
    file_name: str
    sha256: str
    size_bytes: int
    status: Annotated[str, one_of(ImportStatus)]
    allow_partial: bool
    created_by: str
    created_at: dt.datetime
    committed_by: str | None
    committed_at: dt.datetime | None
    # A map, not a Struct: its figures depend on the profile's kind and on the import's
    # state (``Counts``, ``DeliveryCounts``, ``InstallCounts``, ``StagedCounts``).
    counts: dict[str, int]
    po_lines: list[PurchaseOrderLine]
    licences: list[LicenceLine]
    file_warnings: list[FileWarning]
    previous_import: PreviousImport | None
    header_row: int | None
    message: str | None
    location: str | None = None  # the code of the location a delivery's devices arrive at
    # A people feed: ids of active people the register holds that the file does not list.
    not_in_file: list[int] = []
    # The job that commits it (the latest), and while that job runs, its phase: reading,
    # classifying, reporting, applying (GET /imports/{id} shows a long commit's progress).
    job_id: int | None = None
    phase: str | None = None

    def tally(self) -> Counts:
        """The counts every import has, typed."""
        return msgspec.convert(self.counts, Counts)
