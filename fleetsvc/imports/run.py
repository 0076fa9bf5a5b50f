"""Supplier delivery imports: read an uploaded file, stage its rows, preview or commit them.

A run is a job that owns its transactions (like a CLI command): the import row is created
first and its counts move as batches of parsed rows are COPYed into ``import_staged_row``
(each batch its own short transaction, so ``GET /imports/{id}`` shows progress); then one
transaction classifies and, for a commit, applies every row set-based
(``fleetsvc.imports.plan``). The file is read from disk in a worker thread, one batch at
a time, so memory stays flat however long the file is.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import decimal
import hashlib
import io
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from pathlib import Path
from typing import Any, Final

import asyncpg
import msgspec

from db.engine import connection, transaction
from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.checks import filter_choice
from fleetsvc.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from fleetsvc.exports import safe_cell
from fleetsvc.imports import plan
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import Filters, check_id, list_page
from fleetsvc.settings import get_settings
from fleetsvc.vocabulary import ImportRowStatus, ImportStatus, IssueSeverity
from importers import FileRejected, ParsedFile, ParsedRow, Profile, ProfileError, parse_file
from importers import get_profile as find_profile

BATCH_ROWS: Final = 5_000
MODES: Final = ("preview", "commit")
ENTITY: Final = "delivery_import"
MDM_MESSAGE: Final = (
    "intune-devices files are not delivery imports: use `fleetsvc mdm sync --file` "
    "or POST /api/v1/mdm/sync"
)

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
)
STAGED_COLUMNS: Final = ("import_id", "row_number", "parse_ok", "issues", "cells", *STAGED_FIELDS)

# The staging column's type decides which parsers can feed it (a profile is data, so check).
_TYPED_PARSERS: Final = {
    "delivered_on": {"date"},
    "completed_on": {"date"},
    "quantity": {"quantity"},
    "unit_cost": {"money"},
}
_TEXT_PARSERS: Final = {"text", "upper", "serial", "imei", "iccid", "msisdn", "vrm", "enum"}

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


# --- profiles ------------------------------------------------------------------------------


def import_profile(name: str, extra_dirs: Sequence[Path] = ()) -> Profile:
    """The profile for a delivery import; ValidationFailed (listing profiles) if unusable."""
    try:
        profile = find_profile(name, extra_dirs)
    except ProfileError as exc:
        raise ValidationFailed([FieldProblem("profile", exc.message)], exc.message) from None
    if profile.kind == "mdm":
        raise ValidationFailed([FieldProblem("profile", MDM_MESSAGE)], MDM_MESSAGE)
    problems = []
    for spec in profile.fields:
        if spec.name not in STAGED_FIELDS:
            continue
        allowed = _TYPED_PARSERS.get(spec.name, _TEXT_PARSERS)
        if spec.parser not in allowed:
            problems.append(
                FieldProblem(
                    "profile",
                    f"profile {profile.name}: field {spec.name} needs a "
                    f"{' or '.join(sorted(allowed))} parser, not {spec.parser}",
                )
            )
    if problems:
        raise ValidationFailed(problems)
    return profile


def _file_problem(message: str) -> ValidationFailed:
    return ValidationFailed([FieldProblem("file", message)], message)


# --- staging -------------------------------------------------------------------------------


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
    rows: Iterator[ParsedRow]
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
        for row in self.rows:
            records.append(record(row, batch))
            if len(records) >= BATCH_ROWS:
                # Read here, in the thread that reads the file, before it reads on.
                batch.share = self.share()
                return batch
        batch.done = True
        batch.share = 1.0
        return batch

    def _record(self, row: ParsedRow, batch: _Batch) -> tuple[Any, ...]:
        values = row.values
        headers = self.parsed.columns
        issues: list[list[str | None]] = [
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
            if ok and values.get("serial_number") is None and values.get("imei") is not None:
                issues.append(
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
                issues.append(
                    [
                        "warning",
                        headers.get("licence_key"),
                        row.raw.get("licence_key"),
                        "a row with a serial number is an item: its licence key is not recorded "
                        "(a licence row has a key and no serial number)",
                    ]
                )
            if values.get("msisdn") is not None and values.get("iccid") is None:
                issues.append(
                    [
                        "warning",
                        headers.get("msisdn"),
                        row.raw.get("msisdn"),
                        "a number without a SIM ICCID is not recorded (no SIM to put it on)",
                    ]
                )
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


def _digest(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def _file_warnings(parsed: ParsedFile) -> list[dict[str, Any]]:
    out = []
    if parsed.header_row > 1:
        out.append(
            _warning(
                None,
                f"rows 1 to {parsed.header_row - 1} above the header row "
                f"(row {parsed.header_row}) are titles and were not read",
            )
        )
    out.extend(_warning(w.row, w.message) for w in parsed.file_warnings)
    skipped = parsed.skipped
    if skipped.blank:
        out.append(_warning(None, f"{skipped.blank:,} blank row(s) were skipped"))
    if skipped.repeated_header > 1:
        out.append(_warning(None, f"the header row was repeated {skipped.repeated_header:,} times"))
    if skipped.totals > 1:
        out.append(_warning(None, f"{skipped.totals:,} totals rows were skipped"))
    return out


def _no_rows_message(parsed: ParsedFile) -> str:
    skipped = parsed.skipped
    found = [
        f"{count:,} {what}"
        for count, what in (
            (skipped.blank, "blank row(s)"),
            (skipped.totals, "totals row(s)"),
            (skipped.repeated_header, "repeated header row(s)"),
        )
        if count
    ]
    below = f" (only {', '.join(found)})" if found else ""
    return (
        f"the file has no data rows below its header on row {parsed.header_row:,}{below}; "
        "check that the export is complete"
    )


def _warning(row: int | None, message: str) -> dict[str, Any]:
    return {"row": row, "message": message}


# --- the run --------------------------------------------------------------------------------


async def run_import(
    actor: Actor,
    *,
    path: Path,
    file_name: str,
    profile_name: str,
    mode: str = "preview",
    allow_partial: bool = False,
    extra_profile_dirs: Sequence[Path] = (),
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Read the file at ``path``, stage it, then preview or commit it; returns the import."""
    if mode not in MODES:
        raise ValidationFailed.one("mode", "mode must be preview or commit")
    profile = import_profile(profile_name, extra_profile_dirs)
    file_name = (file_name or path.name)[:255]
    sha256, size = await asyncio.to_thread(_digest, path)
    stream = await asyncio.to_thread(path.open, "rb")
    try:
        try:
            parsed = await asyncio.to_thread(parse_file, stream, file_name, profile)
            # The first data row is read before the import is created: a file with none is
            # refused like an empty file, with nothing written.
            data_rows = iter(parsed)
            first = await asyncio.to_thread(next, data_rows, None)
        except FileRejected as exc:
            raise _file_problem(exc.message) from None
        if first is None:
            raise _file_problem(_no_rows_message(parsed))
        fields = list(parsed.columns)
        summary = {
            "fields": fields,
            "headers": [parsed.columns[name] for name in fields],
            "header_row": parsed.header_row,
            "format": parsed.format,
            "kind": profile.kind,
        }
        async with transaction() as conn:
            await _expire_old_previews(conn, get_settings().preview_days)
            import_id = await _create(conn, actor, profile, file_name, sha256, size, summary)
        try:

            def share() -> float | None:
                # The CSV reader reads the file in order, at most a MiB ahead of the rows.
                if parsed.format != "csv" or not size:
                    return None
                return min(stream.tell() / size, 1.0)

            rows = await _stage(
                import_id, parsed, chain([first], data_rows), profile.kind, fields, progress, share
            )
        except FileRejected as exc:
            await _fail(import_id, exc.message)
            raise _file_problem(exc.message) from None
        except BaseException:
            await asyncio.shield(_fail(import_id, "the import stopped before the file was read"))
            raise
    finally:
        await asyncio.to_thread(stream.close)
    summary["file_warnings"] = _file_warnings(parsed)
    skipped = parsed.skipped
    summary["skipped"] = {
        "blank": skipped.blank,
        "repeated_header": skipped.repeated_header,
        "totals": skipped.totals,
    }
    try:
        async with transaction() as conn:
            await conn.execute(
                "UPDATE delivery_import SET summary = $2::jsonb WHERE id = $1",
                import_id,
                _json.encode(summary).decode(),
            )
            await plan.evaluate(
                conn,
                actor,
                import_id,
                apply=mode == "commit",
                allow_partial=allow_partial,
                staged_rows=rows,
            )
    except BaseException:
        await asyncio.shield(_fail(import_id, "the import failed while it was being applied"))
        raise
    async with connection() as conn:
        return await get_import(conn, import_id)


async def _expire_old_previews(conn: asyncpg.Connection, days: int) -> None:
    """Previews nobody committed keep their staged rows only ``days`` days (a 300,000-row
    preview holds about a hundred MB); an import still "running" after that has died."""
    await conn.execute(
        "UPDATE delivery_import SET status = 'failed',"
        " summary = summary || jsonb_build_object('message', 'the import stopped before the"
        " file was read')"
        " WHERE status = 'running' AND created_at < now() - make_interval(days => $1)",
        days,
    )
    await conn.execute(
        "DELETE FROM import_staged_row s USING delivery_import d"
        " WHERE d.id = s.import_id AND d.status <> 'committed'"
        " AND d.created_at < now() - make_interval(days => $1)",
        days,
    )


async def _create(
    conn: asyncpg.Connection,
    actor: Actor,
    profile: Profile,
    file_name: str,
    sha256: str,
    size: int,
    summary: Mapping[str, Any],
) -> int:
    import_id: int = await conn.fetchval(
        "INSERT INTO delivery_import (profile, file_name, sha256, size_bytes, status,"
        " allow_partial, created_by, created_role, request_id, counts, summary)"
        " VALUES ($1, $2, $3, $4, 'running', false, $5, $6, $7, $8::jsonb, $9::jsonb)"
        " RETURNING id",
        profile.name,
        file_name,
        sha256,
        size,
        actor.name,
        actor.role,
        actor.request_id,
        '{"rows": 0}',
        _json.encode(summary).decode(),
    )
    await audit.record(
        conn,
        actor,
        ENTITY,
        import_id,
        "created",
        after={"profile": profile.name, "file_name": file_name, "sha256": sha256, "size": size},
    )
    return import_id


async def _stage(
    import_id: int,
    parsed: ParsedFile,
    data_rows: Iterator[ParsedRow],
    kind: str,
    fields: list[str],
    progress: Progress | None,
    share: Callable[[], float | None] = lambda: None,
) -> int:
    """COPY the file's rows into the staging table, parsing the next batch meanwhile."""
    stager = _Stager(import_id, parsed, kind, data_rows, fields, share)
    rows = rejected = warnings = 0
    pending = asyncio.ensure_future(asyncio.to_thread(stager.take))
    while True:
        batch = await pending
        if not batch.done:
            pending = asyncio.ensure_future(asyncio.to_thread(stager.take))
        rows += len(batch.records)
        rejected += batch.rejected
        warnings += batch.warnings
        counts = {"rows": rows, "rejected": rejected, "warnings": warnings}
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


async def _fail(import_id: int, message: str) -> None:
    async with transaction() as conn:
        await conn.execute("DELETE FROM import_staged_row WHERE import_id = $1", import_id)
        await conn.execute(
            "UPDATE delivery_import SET status = 'failed',"
            " summary = summary || jsonb_build_object('message', $2::text)"
            " WHERE id = $1 AND status = 'running'",
            import_id,
            message,
        )


async def commit_import(actor: Actor, import_id: int, *, allow_partial: bool) -> dict[str, Any]:
    """Commit a previewed (or rejected) import; committing a committed one changes nothing."""
    check_id(ENTITY, import_id)
    async with transaction() as conn:
        row = await conn.fetchrow(
            "SELECT status, counts FROM delivery_import WHERE id = $1 FOR UPDATE", import_id
        )
        if row is None:
            raise NotFound(ENTITY, import_id)
        if row["status"] in ("previewed", "rejected"):
            staged = await conn.fetchval(
                "SELECT count(*) FROM import_staged_row WHERE import_id = $1", import_id
            )
            expected = msgspec.json.decode(row["counts"]).get("rows", 0)
            if staged != expected:
                raise Conflict(
                    f"the rows of import {import_id} are no longer staged (a preview is kept "
                    f"for {get_settings().preview_days} days, and a database restart clears "
                    "previews); upload the file again"
                )
            await plan.evaluate(
                conn, actor, import_id, apply=True, allow_partial=allow_partial, staged_rows=staged
            )
        elif row["status"] != "committed":
            raise Conflict(f"import {import_id} is {row['status']}; it cannot be committed")
    async with connection() as conn:
        return await get_import(conn, import_id)


# --- reading --------------------------------------------------------------------------------

IMPORT_COLUMNS: Final = (
    "id, profile, file_name, sha256, size_bytes, status, allow_partial, created_by,"
    " created_role, created_at, committed_by, committed_at, counts, summary"
)


def import_dict(row: asyncpg.Record) -> dict[str, Any]:
    item = dict(row)
    for key in ("counts", "summary"):
        raw = item.get(key)
        item[key] = msgspec.json.decode(raw) if isinstance(raw, str | bytes) else (raw or {})
    return item


async def get_import(conn: asyncpg.Connection, import_id: int) -> dict[str, Any]:
    check_id(ENTITY, import_id)
    row = await conn.fetchrow(
        f"SELECT {IMPORT_COLUMNS} FROM delivery_import WHERE id = $1", import_id
    )
    if row is None:
        raise NotFound(ENTITY, import_id)
    return import_dict(row)


async def list_imports(
    conn: asyncpg.Connection,
    page: PageRequest,
    *,
    status: str | None = None,
    profile: str | None = None,
    sha256: str | None = None,
) -> Page[asyncpg.Record]:
    f = Filters()
    if status is not None:
        f.add("status = {}", filter_choice("status", status, ImportStatus))
    if profile is not None:
        f.add("profile = {}", profile)
    if sha256 is not None:
        f.add("sha256 = {}", sha256.lower())
    return await list_page(conn, f"SELECT {IMPORT_COLUMNS} FROM delivery_import", f, page)


# The rows filter, in the users' words, and the severity it reads.
ISSUE_STATUSES: Final = {
    ImportRowStatus.REJECTED: IssueSeverity.ERROR,
    ImportRowStatus.WARNING: IssueSeverity.WARNING,
}


async def list_issues(
    conn: asyncpg.Connection, import_id: int, page: PageRequest, *, status: str | None = None
) -> Page[asyncpg.Record]:
    """The import's row errors (status=rejected) or warnings, in row order."""
    await get_import(conn, import_id)
    f = Filters()
    f.add("import_id = {}", import_id)
    if status is not None:
        if not ImportRowStatus.has(status):
            raise ValidationFailed.one("status", "status must be rejected or warning")
        f.add("severity = {}", ISSUE_STATUSES[ImportRowStatus(status)])
    return await list_page(
        conn,
        "SELECT id, row_number, severity, column_name, value, message FROM import_issue",
        f,
        page,
    )


async def rejected_csv(import_id: int) -> AsyncIterator[str]:
    """The rejected rows as CSV chunks: original cells and an ``error`` column, formula-safe.

    Ready to correct (in Excel: UTF-8 with a byte-order mark) and upload again: the columns
    are the file's own headers.
    """
    async with connection() as conn:
        imp = await get_import(conn, import_id)
    headers: list[str] = list(imp["summary"].get("headers", []))
    out = io.StringIO()
    # A byte-order mark: without it Excel reads the file in the PC's code page, and a £ or
    # an accent comes back garbled when the corrected file is saved and uploaded again.
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in (*headers, "error")])
    after = -1
    while True:
        async with connection() as conn:
            rows = await conn.fetch(
                "SELECT r.row_number, r.cells, (SELECT string_agg(i.message, '; ' ORDER BY i.id)"
                "  FROM import_issue i WHERE i.import_id = r.import_id"
                "  AND i.row_number = r.row_number AND i.severity = 'error') AS error"
                " FROM import_rejected_row r WHERE r.import_id = $1 AND r.row_number > $2"
                " ORDER BY r.row_number LIMIT $3",
                import_id,
                after,
                BATCH_ROWS,
            )
        for row in rows:
            cells = msgspec.json.decode(row["cells"]) if row["cells"] else {}
            writer.writerow(
                [safe_cell(cells.get(h) or "") for h in headers] + [safe_cell(row["error"] or "")]
            )
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if len(rows) < BATCH_ROWS:
            return
        after = rows[-1]["row_number"]
