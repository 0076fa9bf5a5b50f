"""An import's report beyond its counts: the warnings about the file as a whole, and the row
issues and rejected rows, written from the plan set-based.

The file's own warnings (title rows above the header, skipped blank, totals and repeated
header rows, what the parser noticed) are found as it is read; a file committed before is
found on each evaluation. The row issues are those warnings, then each row's issues from the
parser and the plan, in row order (an error saying whether its row is rejected or in conflict
with the register); the rejected rows keep their original cells under the
file's own headers, ready for ``rejected.csv``.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import asyncpg
import msgspec

from fleetsvc.imports.summary import ImportSummary, PreviousImport, StoredWarning
from importers import ParsedFile


def file_warnings(parsed: ParsedFile) -> list[StoredWarning]:
    """What the file's layout warns about (not generated: kept by every evaluation)."""
    out = []
    if parsed.header_row > 1:
        out.append(
            StoredWarning(
                row=None,
                message=f"rows 1 to {parsed.header_row - 1} above the header row "
                f"(row {parsed.header_row}) are titles and were not read",
            )
        )
    out.extend(StoredWarning(row=w.row, message=w.message) for w in parsed.file_warnings)
    skipped = parsed.skipped
    if skipped.blank:
        out.append(StoredWarning(row=None, message=f"{skipped.blank:,} blank row(s) were skipped"))
    if skipped.repeated_header > 1:
        message = f"the header row was repeated {skipped.repeated_header:,} times"
        out.append(StoredWarning(row=None, message=message))
    if skipped.totals > 1:
        message = f"{skipped.totals:,} totals rows were skipped"
        out.append(StoredWarning(row=None, message=message))
    return out


def no_rows_message(parsed: ParsedFile) -> str:
    """Why a file with a header and no data rows is refused, and what was below it."""
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


async def previous_import(
    conn: asyncpg.Connection, import_id: int, sha256: str, profile: str
) -> PreviousImport | None:
    """The first import that committed the same file with the same profile, if any."""
    previous = await conn.fetchrow(
        "SELECT id, committed_at FROM delivery_import WHERE sha256 = $1 AND profile = $2"
        " AND status = 'committed' AND id <> $3 ORDER BY id LIMIT 1",
        sha256,
        profile,
        import_id,
    )
    if previous is None:
        return None
    return PreviousImport(id=previous["id"], committed_at=when(previous["committed_at"]))


def when(committed_at: dt.datetime) -> str:
    """When an import was committed, as its report says it."""
    return committed_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def previous_warning(previous: PreviousImport) -> StoredWarning:
    message = f"this file was committed as import {previous.id} on {previous.committed_at}"
    return StoredWarning(row=None, message=message, generated=True)


WRITE_ISSUES: Final = """
INSERT INTO import_issue
    (import_id, row_number, severity, column_name, value, message, outcome)
SELECT $1, u.row_number, u.severity, u.column_name, left(u.value, 200), u.message, u.outcome
FROM (
    SELECT w.row_number, 'warning' AS severity, NULL::text AS column_name, NULL::text AS value,
           w.message, NULL::text AS outcome, 0 AS part, w.ord AS sub
    FROM unnest($2::int[], $3::text[]) WITH ORDINALITY AS w(row_number, message, ord)
    UNION ALL
    SELECT s.row_number, i->>0, i->>1, i->>2, i->>3,
           CASE WHEN i->>0 = 'error' THEN 'rejected' END, 1, 0
    FROM import_staged_row s CROSS JOIN LATERAL jsonb_array_elements(s.issues) i
    WHERE s.import_id = $1 AND s.issues IS NOT NULL
    UNION ALL
    SELECT p.row_number,
           CASE WHEN p.outcome IN ('rejected', 'conflict') THEN 'error' ELSE 'warning' END,
           $4::jsonb->>p.issue_field, s.cells->>(array_position($5::text[], p.issue_field) - 1),
           p.message, CASE WHEN p.outcome IN ('rejected', 'conflict') THEN p.outcome END, 1, 1
    FROM import_plan p JOIN import_staged_row s
      ON s.import_id = $1 AND s.row_number = p.row_number
    WHERE p.message IS NOT NULL
) u
ORDER BY u.part, u.row_number, u.sub
"""

WRITE_REJECTED: Final = """
INSERT INTO import_rejected_row (import_id, row_number, cells)
SELECT $1, s.row_number,
       jsonb_object($2::text[], ARRAY(SELECT c.cell FROM jsonb_array_elements_text(s.cells)
                                      WITH ORDINALITY AS c(cell, n) ORDER BY c.n))
FROM import_plan p JOIN import_staged_row s ON s.import_id = $1 AND s.row_number = p.row_number
WHERE p.outcome IN ('rejected', 'conflict')
ORDER BY s.row_number
"""


async def write_rows(
    conn: asyncpg.Connection, import_id: int, summary: ImportSummary, *, held_back: int
) -> int:
    """Write the import's row issues and rejected rows (the ``held_back`` rows the plan
    rejected or found in conflict) afresh; returns its warnings."""
    fields = summary.fields
    header_of = dict(zip(fields, summary.headers, strict=False))
    warnings = summary.file_warnings
    await conn.execute("DELETE FROM import_issue WHERE import_id = $1", import_id)
    await conn.execute("SET LOCAL enable_nestloop = off")  # see plan.build
    await conn.execute(
        WRITE_ISSUES,
        import_id,
        [w.row for w in warnings],
        [w.message for w in warnings],
        msgspec.json.encode(header_of).decode(),
        fields,
    )
    await conn.execute("DELETE FROM import_rejected_row WHERE import_id = $1", import_id)
    if held_back:  # else a join of every staged row to the plan, for none
        await conn.execute(WRITE_REJECTED, import_id, summary.headers)
    await conn.execute("RESET enable_nestloop")
    count: int = await conn.fetchval(
        "SELECT count(*) FROM import_issue WHERE import_id = $1 AND severity = 'warning'",
        import_id,
    )
    return count
