"""Reading imports: one import, the list of them, an import's row issues, and its rejected
rows as a CSV ready to correct and upload again."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Final

import asyncpg
import msgspec

from db.engine import connection
from fleetsvc.checks import filter_choice
from fleetsvc.errors import NotFound, ValidationFailed
from fleetsvc.exports import safe_cell
from fleetsvc.imports.staging import BATCH_ROWS
from fleetsvc.imports.summary import DeliveryImport, ImportSummary
from fleetsvc.pagination import Page, PageRequest, make_page
from fleetsvc.records import Filters, check_id, list_page
from fleetsvc.vocabulary import (
    HeldBackOutcome,
    ImportRowStatus,
    ImportStatus,
    IssueSeverity,
    one_of,
)

ENTITY: Final = "delivery_import"

IMPORT_COLUMNS: Final = (
    "id, profile, file_name, sha256, size_bytes, status, allow_partial, created_by,"
    " created_role, created_at, committed_by, committed_at, counts, summary,"
    " (SELECT l.code FROM location l WHERE l.id = delivery_import.location_id) AS location,"
    " job_id, (SELECT COALESCE(j.progress ->> 'phase', j.status) FROM job j"
    " WHERE j.id = delivery_import.job_id"
    " AND j.status IN ('queued', 'running')) AS phase"
)


class ImportRowIssue(msgspec.Struct):
    """A row error or warning of an import: the row number as the spreadsheet shows it (None
    for the file as a whole), the column's header and the cell's text."""

    id: int
    row: int | None
    severity: Annotated[str, one_of(IssueSeverity)]
    column: str | None
    value: str | None
    message: str


def import_of(row: asyncpg.Record) -> DeliveryImport:
    """The import a ``delivery_import`` row (``IMPORT_COLUMNS``) describes."""
    summary = msgspec.json.decode(row["summary"] or "{}", type=ImportSummary)
    return DeliveryImport(
        id=row["id"],
        profile=row["profile"],
        file_name=row["file_name"],
        sha256=row["sha256"],
        size_bytes=row["size_bytes"],
        status=row["status"],
        allow_partial=row["allow_partial"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        committed_by=row["committed_by"],
        committed_at=row["committed_at"],
        counts=msgspec.json.decode(row["counts"] or "{}", type=dict[str, int]),
        po_lines=summary.po_lines,
        licences=summary.licences,
        file_warnings=[w.shown() for w in summary.file_warnings],
        previous_import=summary.previous_import,
        header_row=summary.header_row,
        message=summary.message,
        location=row["location"],
        not_in_file=summary.not_in_file,
        job_id=row["job_id"],
        phase=row["phase"],
    )


async def get_import(conn: asyncpg.Connection, import_id: int) -> DeliveryImport:
    check_id(ENTITY, import_id)
    row = await conn.fetchrow(
        f"SELECT {IMPORT_COLUMNS} FROM delivery_import WHERE id = $1", import_id
    )
    if row is None:
        raise NotFound(ENTITY, import_id)
    return import_of(row)


async def get_summary(conn: asyncpg.Connection, import_id: int) -> ImportSummary:
    check_id(ENTITY, import_id)
    raw = await conn.fetchval("SELECT summary FROM delivery_import WHERE id = $1", import_id)
    if raw is None:
        raise NotFound(ENTITY, import_id)
    return msgspec.json.decode(raw, type=ImportSummary)


async def list_imports(
    conn: asyncpg.Connection,
    page: PageRequest,
    *,
    status: str | None = None,
    profile: str | None = None,
    sha256: str | None = None,
) -> Page[DeliveryImport]:
    f = Filters()
    if status is not None:
        f.add("status = {}", filter_choice("status", status, ImportStatus))
    if profile is not None:
        f.add("profile = {}", profile)
    if sha256 is not None:
        f.add("sha256 = {}", sha256.lower())
    found = await list_page(conn, f"SELECT {IMPORT_COLUMNS} FROM delivery_import", f, page)
    return Page(items=[import_of(r) for r in found.items], next_cursor=found.next_cursor)


async def recent_imports(
    conn: asyncpg.Connection, page: PageRequest, *, status: str | None = None
) -> Page[DeliveryImport]:
    """Imports newest first (the pages' list of past imports); the cursor names the last
    import shown, and the next page is the older ones."""
    f = Filters()
    if status is not None:
        f.add("status = {}", filter_choice("status", status, ImportStatus))
    if page.after_id is not None:
        f.add("id < {}", page.after_id)
    f.args.append(page.limit + 1)
    rows = await conn.fetch(
        f"SELECT {IMPORT_COLUMNS} FROM delivery_import{f.where()}"
        f" ORDER BY id DESC LIMIT ${len(f.args)}",
        *f.args,
    )
    return make_page([import_of(r) for r in rows], page, key=lambda i: i.id)


# The rows filter, in the users' words, and the severity it reads.
ISSUE_STATUSES: Final = {
    ImportRowStatus.REJECTED: IssueSeverity.ERROR,
    ImportRowStatus.WARNING: IssueSeverity.WARNING,
}


async def list_issues(
    conn: asyncpg.Connection,
    import_id: int,
    page: PageRequest,
    *,
    status: str | None = None,
    held_back: str | None = None,
) -> Page[ImportRowIssue]:
    """The import's row errors (status=rejected) or warnings, in row order. ``held_back``
    narrows the errors to those of rows in conflict with the register, or of the others
    (rows to correct; with them the errors written before errors said which)."""
    await get_import(conn, import_id)
    f = Filters()
    f.add("import_id = {}", import_id)
    if status is not None:
        if not ImportRowStatus.has(status):
            raise ValidationFailed.one("status", "status must be rejected or warning")
        f.add("severity = {}", ISSUE_STATUSES[ImportRowStatus(status)])
    if held_back is not None:
        if filter_choice("held_back", held_back, HeldBackOutcome) == HeldBackOutcome.CONFLICT:
            f.add("outcome = {}", HeldBackOutcome.CONFLICT)
        else:
            f.add("severity = {} AND outcome IS DISTINCT FROM {}", "error", "conflict")
    found = await list_page(
        conn,
        "SELECT id, row_number, severity, column_name, value, message FROM import_issue",
        f,
        page,
    )
    items = [
        ImportRowIssue(
            id=r["id"],
            row=r["row_number"],
            severity=r["severity"],
            column=r["column_name"],
            value=r["value"],
            message=r["message"],
        )
        for r in found.items
    ]
    return Page(items=items, next_cursor=found.next_cursor)


# The issues of one kind: warnings, conflicts (a row that says otherwise than the
# register) and rejected rows (one that cannot be read, or names what does not exist).
_ISSUE_KINDS: Final = {
    "warning": "severity = 'warning'",
    "conflict": "severity = 'error' AND outcome = 'conflict'",
    "rejected": "severity = 'error' AND outcome IS DISTINCT FROM 'conflict'",
}


async def first_issues(
    conn: asyncpg.Connection, import_id: int, kind: str, limit: int
) -> tuple[list[ImportRowIssue], int]:
    """The first ``limit`` issues of one kind (``warning``, ``conflict``, ``rejected``),
    in row order, and how many there are in all."""
    where = _ISSUE_KINDS[kind]
    total: int = await conn.fetchval(
        f"SELECT count(*) FROM import_issue WHERE import_id = $1 AND {where}", import_id
    )
    found = await conn.fetch(
        "SELECT id, row_number, severity, column_name, value, message FROM import_issue"
        f" WHERE import_id = $1 AND {where} ORDER BY id LIMIT $2",
        import_id,
        limit,
    )
    items = [
        ImportRowIssue(
            id=r["id"],
            row=r["row_number"],
            severity=r["severity"],
            column=r["column_name"],
            value=r["value"],
            message=r["message"],
        )
        for r in found
    ]
    return items, total


async def rejected_csv(import_id: int) -> AsyncIterator[str]:
    """The rejected rows as CSV chunks: original cells and an ``error`` column, formula-safe.

    Ready to correct (in Excel: UTF-8 with a byte-order mark) and upload again: the columns
    are the file's own headers.
    """
    async with connection() as conn:
        headers = (await get_summary(conn, import_id)).headers
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
