"""Staging an import: the file's parsed rows COPYed into ``import_staged_row``, batch by batch.

Each batch of about ``BATCH_ROWS`` parsed rows is turned into staging records in a worker thread
(the one that reads the file) while the previous batch is COPYed, each batch in its own short
transaction that also moves the import's counts, so ``GET /imports/{id}`` shows progress and
memory stays flat however long the file is. A row keeps its original cells (for its issues
and ``rejected.csv``) and the parser's errors and warnings; a value longer than the register's
column holds is a row error here, not a failed insert later. The rows the parser converted by
column (importers.CleanRows) become records by column too; the others, and clean rows that
need a word here (a warning, a value too long), one by one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Final

import msgspec

from db.engine import transaction
from fleetsvc.imports.summary import StagedCounts
from importers import CleanRows, ParsedFile, ParsedRow, RowBatch

BATCH_ROWS: Final = 5_000

# Canonical fields the staging table has a column for, in its column order.
STAGED_FIELDS: Final = (
    "delivered_on",
    "supplier_order_ref",
    "po_number",
    "delivery_ref",
    "manufacturer",
    "part_number",
    "description",
    "serial_number",
    "imei",
    "iccid",
    "msisdn",
    "quantity",
    "unit_cost",
    "licence_key",
    "job_reference",
    "completed_on",
    "fleet_number",
    "vrm",
    "vehicle_description",
    "workshop",
    "tablet_serial",
    "dock_serial",
    "engineer_id",
    "job_status",
    "comments",
    "employee_number",
    "forenames",
    "surname",
    "upn",
    "business_unit_code",
    "business_unit_name",
    "person_kind",
    "left_on",
)
STAGED_COLUMNS: Final = ("import_id", "row_number", "parse_ok", "issues", "cells", *STAGED_FIELDS)

# What the register's columns hold; a longer value is a row error, not a failed insert.
MAX_LENGTHS: Final = {
    "supplier_order_ref": 64,
    "delivery_ref": 64,
    "po_number": 32,
    "manufacturer": 100,
    "part_number": 64,
    "description": 200,
    "serial_number": 64,
    "licence_key": 100,
    "job_reference": 64,
    "fleet_number": 32,
    "vehicle_description": 200,
    "workshop": 200,
    "tablet_serial": 64,
    "dock_serial": 64,
    "engineer_id": 32,
    "employee_number": 32,
    "forenames": 100,
    "surname": 99,  # with the forenames and a space, a display name holds 200
    "upn": 254,
    "business_unit_code": 16,
    "business_unit_name": 200,
}


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


_json = msgspec.json.Encoder(enc_hook=_json_default)

# Called after each staged batch with the rows read so far and the share of the file read
# (0-1; None when it cannot be known, as in an XLSX file, until the end, when it is 1.0).
Progress = Callable[[int, float | None], None]

# One issue of a staged row: severity, column header, value, message (the issues column).
Issue = list[str | None]


def _clean(text: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; the parser already rejects the row that has one.
    if text is not None and "\x00" in text:
        return text.replace("\x00", "\ufffd")
    return text


@dataclass
class _Batch:
    records: list[tuple[Any, ...]] = field(default_factory=list)
    rejected: int = 0
    warnings: int = 0
    done: bool = False
    share: float | None = None  # of the file read when the batch was complete


@dataclass
class _Stager:
    """Turns ParsedRows into staging records (runs in a worker thread)."""

    import_id: int
    parsed: ParsedFile
    kind: str
    batches: Iterator[RowBatch]
    fields: list[str]
    share: Callable[[], float | None] = lambda: None
    # The staged columns of the fields this file has (the others stay NULL), and the length
    # limits that can apply to them: a field the file lacks is always None.
    staged: tuple[str, ...] = ()
    limits: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        present = set(self.fields)
        self.staged = tuple(name for name in STAGED_FIELDS if name in present)
        self.limits = tuple((n, limit) for n, limit in MAX_LENGTHS.items() if n in present)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*STAGED_COLUMNS[:5], *self.staged)

    def take(self) -> _Batch:
        batch = _Batch()
        records = batch.records
        record = self._record
        for rows in self.batches:
            if rows.clean:
                self._clean_records(rows.clean, batch)
            for row in rows.others:
                records.append(record(row, batch))
            if len(records) >= BATCH_ROWS:
                # Read here, in the thread that reads the file, before it reads on.
                batch.share = self.share()
                return batch
        batch.done = True
        batch.share = 1.0
        return batch

    def _clean_records(self, clean: CleanRows, batch: _Batch) -> None:
        """The records of rows without errors or warnings, built by column: the record
        _record makes of such a row, unless it has something to say (then _record makes it)."""
        cells = map(
            bytes.decode,
            map(_json.encode, zip(*map(clean.raw.__getitem__, self.fields), strict=True)),
        )
        records = zip(
            repeat(self.import_id),
            clean.numbers,
            repeat(True),
            repeat(None),
            cells,
            *map(clean.values.__getitem__, self.staged),
        )
        special = self._special(clean)
        if not special:
            batch.records.extend(records)
            return
        for position, built in enumerate(records):
            if position in special:
                batch.records.append(self._record(clean.row(position), batch))
            else:
                batch.records.append(built)

    def _special(self, clean: CleanRows) -> set[int]:
        """Clean rows _record has something to say about: a value too long for its column, or
        (deliveries) a warning of _delivery_warnings."""
        values = clean.values
        special: set[int] = set()
        for name, limit in self.limits:
            column = values[name]
            try:
                longest = max(map(len, filter(None, column)), default=0)  # type: ignore[arg-type]
            except TypeError:  # not text: as _record tests it
                longest = limit + 1
            if longest > limit:
                special.update(i for i, v in enumerate(column) if type(v) is str and len(v) > limit)
        if self.kind == "delivery":
            special.update(_delivery_warned(values, len(clean)))
        return special

    def _record(self, row: ParsedRow, batch: _Batch) -> tuple[Any, ...]:
        values = row.values
        headers = self.parsed.columns
        issues: list[Issue] = [
            [i.severity, i.column, _clean(i.value), i.message] for i in row.errors
        ]
        for name, limit in self.limits:
            value = values[name]
            if type(value) is str and len(value) > limit:
                message = f"is {len(value):,} characters long; at most {limit} fit"
                issues.append(["error", headers.get(name), _clean(value[:200]), message])
                values[name] = None
        ok = not issues
        for i in row.warnings:
            issues.append([i.severity, i.column, _clean(i.value), i.message])
        if self.kind == "delivery":
            issues.extend(_delivery_warnings(row, headers, ok=ok))
        if not ok:
            batch.rejected += 1
        if issues:
            batch.warnings += sum(1 for i in issues if i[0] == "warning")
        cells = list(map(row.raw.get, self.fields, repeat("")))
        if "\x00" in "".join(cells):
            cells = [cell.replace("\x00", "\ufffd") for cell in cells]
        return (
            self.import_id,
            row.row,
            ok,
            _json.encode(issues).decode() if issues else None,
            # One JSON array: as a text[] the driver would encode cell by cell, under the GIL.
            _json.encode(cells).decode(),
            *map(values.get, self.staged),
        )


def _where_set_and_unset(
    values: dict[str, list[object]], count: int, needs: str, lacks: str
) -> list[int]:
    """Rows where field ``needs`` has a value and field ``lacks`` has none."""
    have = values.get(needs)
    if have is None or have.count(None) == count:
        return []
    missing = values.get(lacks)
    if missing is None:
        return [i for i, value in enumerate(have) if value is not None]
    if None not in missing:
        return []
    return [
        i for i, (a, b) in enumerate(zip(have, missing, strict=True)) if a is not None and b is None
    ]


def _delivery_warned(values: dict[str, list[object]], count: int) -> list[int]:
    """The rows _delivery_warnings would warn about, of rows with no error."""
    warned = _where_set_and_unset(values, count, "imei", "serial_number")
    warned += _where_set_and_unset(values, count, "msisdn", "iccid")
    keys = values.get("licence_key")
    if keys is not None and keys.count(None) != count:
        warned += [i for i, key in enumerate(keys) if key is not None]
    return warned


def _delivery_warnings(row: ParsedRow, headers: dict[str, str], *, ok: bool) -> list[Issue]:
    """What a delivery row says that the register will not record as it is."""
    values = row.values
    out: list[Issue] = []
    if ok and values.get("serial_number") is None and values.get("imei") is not None:
        out.append(
            [
                "warning",
                headers.get("serial_number"),
                None,
                "no serial number: the IMEI is recorded as the serial",
            ]
        )
    if values.get("licence_key") is not None and (
        values.get("serial_number") is not None or values.get("imei") is not None
    ):
        out.append(
            [
                "warning",
                headers.get("licence_key"),
                row.raw.get("licence_key"),
                "a row with a serial number is an item: its licence key is not recorded "
                "(a licence row has a key and no serial number)",
            ]
        )
    if values.get("msisdn") is not None and values.get("iccid") is None:
        out.append(
            [
                "warning",
                headers.get("msisdn"),
                row.raw.get("msisdn"),
                "a number without a SIM ICCID is not recorded (no SIM to put it on)",
            ]
        )
    return out


async def stage(
    import_id: int,
    parsed: ParsedFile,
    batches: Iterator[RowBatch],
    kind: str,
    fields: list[str],
    progress: Progress | None,
    share: Callable[[], float | None] = lambda: None,
) -> int:
    """COPY the file's rows into the staging table, parsing the next batch meanwhile."""
    stager = _Stager(import_id, parsed, kind, batches, fields, share)
    rows = rejected = warnings = 0
    pending = asyncio.ensure_future(asyncio.to_thread(stager.take))
    while True:
        batch = await pending
        if not batch.done:
            pending = asyncio.ensure_future(asyncio.to_thread(stager.take))
        rows += len(batch.records)
        rejected += batch.rejected
        warnings += batch.warnings
        counts = StagedCounts(rows=rows, rejected=rejected, warnings=warnings)
        try:
            async with transaction() as conn:
                if batch.records:
                    await conn.copy_records_to_table(
                        "import_staged_row", records=batch.records, columns=stager.columns
                    )
                await conn.execute(
                    "UPDATE delivery_import SET counts = $2::jsonb WHERE id = $1",
                    import_id,
                    _json.encode(counts).decode(),
                )
        except BaseException:
            if not batch.done:
                pending.cancel()
            raise
        if progress is not None:
            progress(rows, batch.share)
        if batch.done:
            return rows
