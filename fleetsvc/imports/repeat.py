"""A file committed before, uploaded to be committed again: recognised by its SHA-256 before
any of it is read, and answered from the first commit's report.

Committing the same file twice never creates anything; reading, staging and classifying it
again (a second or so for a large delivery) only to find every row unchanged is wasted. So a
commit upload whose file was committed before with the same profile is recorded at once as a
committed import whose report is the one a full evaluation would write: every item the first
commit created is ``unchanged``, its duplicates are duplicates again, its row warnings are
repeated, the purchase-order lines are counted afresh, and the first warning says which
import committed the file.

That report is only certain while nothing it was decided on has changed, so this path is
taken only when the first commit created every item it had (no unchanged, rejected or
conflicting rows, no licence lines) and, since it committed, none of its assets or SIMs has
been changed (their version is still 1) and neither have its purchase orders or device
models. A people feed (hr-people) is answered so when its first commit rejected no row and,
since it, no person and no business unit has changed: every row is then unchanged (or a
duplicate again), and the same people are not in it. Otherwise the file is read and
evaluated as any other. Both paths run under the apply lock, so no commit slips in between
the checks and the answer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import msgspec

from db.engine import transaction
from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.imports import orders, report
from fleetsvc.imports.evaluate import APPLY_LOCK
from fleetsvc.imports.queries import ENTITY
from fleetsvc.imports.summary import (
    DeliveryCounts,
    ImportSummary,
    PeopleCounts,
    PreviousImport,
)
from fleetsvc.records import insert_row
from fleetsvc.vocabulary import ImportStatus
from importers import Profile


@dataclass(frozen=True, slots=True)
class _Earlier:
    """The first import that committed the file."""

    id: int
    committed_at: dt.datetime
    counts: DeliveryCounts
    summary: ImportSummary


# What the first commit's items and the records they were classified on look like now, in
# one pass over its assets and one over its SIMs.
_UNTOUCHED = """
WITH items AS (
    SELECT count(*) AS n, bool_and(version = 1) AS same,
           array_agg(DISTINCT purchase_order_id) AS orders, array_agg(DISTINCT model_id) AS models
    FROM asset WHERE delivery_import_id = $1
), sims AS (
    SELECT count(*) AS n, bool_and(version = 1) AS same FROM sim WHERE delivery_import_id = $1
)
SELECT items.n = $3 AND items.same AND sims.n = $4 AND (sims.n = 0 OR sims.same)
       AND NOT EXISTS (SELECT 1 FROM purchase_order po WHERE po.id = ANY(items.orders)
                       AND (po.updated_at > $2 OR po.status = 'cancelled'))
       AND NOT EXISTS (SELECT 1 FROM device_model m WHERE m.id = ANY(items.models)
                       AND m.updated_at > $2)
FROM items, sims
"""

# The first commit's row issues, without its file-level warnings (written first, one per
# warning of its summary): the same rows give the same issues.
_COPY_ROW_ISSUES = """
INSERT INTO import_issue (import_id, row_number, severity, column_name, value, message)
SELECT $1, row_number, severity, column_name, value, message FROM (
    SELECT * FROM import_issue WHERE import_id = $2 ORDER BY id OFFSET $3
) i ORDER BY i.id
"""


async def commit_again(
    conn: asyncpg.Connection,
    actor: Actor,
    *,
    profile: Profile,
    file_name: str,
    sha256: str,
    size: int,
    allow_partial: bool = False,
) -> int | None:
    """Record the commit of a file committed before, in the caller's transaction; the new
    import's id, or None when the file must be read and evaluated (see the module)."""
    if profile.kind == "people":
        return await _people_again(
            conn, actor, profile, file_name, sha256, size, allow_partial=allow_partial
        )
    if profile.kind != "delivery":
        return None
    earlier = await _earlier(conn, sha256, profile.name)
    if earlier is None or not _complete(earlier.counts):
        return None
    await conn.execute("SELECT pg_advisory_xact_lock($1)", APPLY_LOCK)
    untouched = await conn.fetchval(
        _UNTOUCHED, earlier.id, earlier.committed_at, earlier.counts.new, earlier.counts.sims
    )
    if not untouched:
        return None
    summary = await _summary(conn, earlier)
    import_id = await _create(conn, actor, profile.name, file_name, sha256, size, summary)
    counts = DeliveryCounts(
        rows=earlier.counts.rows,
        unchanged=earlier.counts.new,
        duplicates=earlier.counts.duplicates,
        warnings=await _write_issues(conn, import_id, earlier.id, earlier.summary, summary),
    )
    return await _mark_committed(conn, actor, import_id, counts, allow_partial)


async def commit_again_of_path(
    actor: Actor, path: Path, file_name: str, profile: Profile, *, allow_partial: bool
) -> int | None:
    """``commit_again`` for an uploaded file on disk, in a transaction of its own."""
    sha256, size = await asyncio.to_thread(digest, path)
    async with transaction() as conn:
        return await commit_again(
            conn,
            actor,
            profile=profile,
            file_name=file_name,
            sha256=sha256,
            size=size,
            allow_partial=allow_partial,
        )


def digest(path: Path) -> tuple[str, int]:
    """The file's SHA-256 (hex) and size in bytes."""
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


async def _earlier(conn: asyncpg.Connection, sha256: str, profile: str) -> _Earlier | None:
    # The first commit, as report.previous_import finds it.
    row = await conn.fetchrow(
        "SELECT id, committed_at, counts, summary FROM delivery_import"
        " WHERE sha256 = $1 AND profile = $2 AND status = 'committed' ORDER BY id LIMIT 1",
        sha256,
        profile,
    )
    if row is None:
        return None
    summary = msgspec.json.decode(row["summary"], type=ImportSummary)
    if summary.kind != "delivery":
        return None
    counts = msgspec.json.decode(row["counts"], type=DeliveryCounts)
    return _Earlier(row["id"], row["committed_at"], counts, summary)


def _complete(counts: DeliveryCounts) -> bool:
    """The first commit created every item of the file itself: so each is unchanged now."""
    return (
        counts.new > 0
        and not counts.unchanged
        and not counts.rejected
        and not counts.conflicts
        and not counts.licence_rows
    )


async def _summary(conn: asyncpg.Connection, earlier: _Earlier) -> ImportSummary:
    """The report's summary as an evaluation would write it: the earlier file's layout, the
    "committed as import N" warning first, the purchase-order lines counted now."""
    previous = PreviousImport(id=earlier.id, committed_at=report.when(earlier.committed_at))
    summary = msgspec.structs.replace(
        earlier.summary, previous_import=previous, licences=[], message=None
    )
    summary.po_lines = []
    for line in earlier.summary.po_lines:
        delivered: int = await conn.fetchval(
            "SELECT count(*) FROM asset WHERE purchase_order_id = $1 AND model_id = $2",
            line.purchase_order_id,
            line.model_id,
        )
        summary.po_lines.append(
            msgspec.structs.replace(
                line,
                delivered_before=delivered,
                new=0,
                over_delivered=max(0, delivered - (line.ordered or 0)),
            )
        )
    warnings = [w for w in earlier.summary.file_warnings if not w.generated]
    warnings.insert(0, report.previous_warning(previous))
    warnings.extend(orders.order_warnings(summary.po_lines))
    summary.file_warnings = warnings
    return summary


async def _create(
    conn: asyncpg.Connection,
    actor: Actor,
    profile: str,
    file_name: str,
    sha256: str,
    size: int,
    summary: ImportSummary,
) -> int:
    row = await insert_row(
        conn,
        "delivery_import",
        {
            "profile": profile,
            "file_name": file_name,
            "sha256": sha256,
            "size_bytes": size,
            "status": ImportStatus.COMMITTED,
            "allow_partial": False,
            "created_by": actor.name,
            "created_role": actor.role,
            "request_id": actor.request_id,
            "summary": msgspec.json.encode(summary).decode(),
        },
    )
    import_id: int = row["id"]
    await audit.record(
        conn,
        actor,
        ENTITY,
        import_id,
        "created",
        after={"profile": profile, "file_name": file_name, "sha256": sha256, "size": size},
    )
    return import_id


async def _write_issues(
    conn: asyncpg.Connection,
    import_id: int,
    earlier_id: int,
    earlier: ImportSummary,
    summary: ImportSummary,
) -> int:
    """The file-level warnings, then the earlier commit's row issues; the warnings."""
    warnings = summary.file_warnings
    await conn.execute(
        "INSERT INTO import_issue (import_id, row_number, severity, message)"
        " SELECT $1, w.row_number, 'warning', w.message"
        " FROM unnest($2::int[], $3::text[]) WITH ORDINALITY AS w(row_number, message, ord)"
        " ORDER BY w.ord",
        import_id,
        [w.row for w in warnings],
        [w.message for w in warnings],
    )
    await conn.execute(_COPY_ROW_ISSUES, import_id, earlier_id, len(earlier.file_warnings))
    warned: int = await conn.fetchval(
        "SELECT count(*) FROM import_issue WHERE import_id = $1 AND severity = 'warning'",
        import_id,
    )
    return warned


# --- a people feed committed before ----------------------------------------------------------

# Nobody and no business unit changed since the first commit: every row the file has would be
# found unchanged (or a duplicate), and the same people not in it.
_PEOPLE_UNTOUCHED = """
SELECT NOT EXISTS (SELECT 1 FROM person WHERE updated_at > $1)
   AND NOT EXISTS (SELECT 1 FROM business_unit WHERE updated_at > $1)
"""


async def _people_again(
    conn: asyncpg.Connection,
    actor: Actor,
    profile: Profile,
    file_name: str,
    sha256: str,
    size: int,
    *,
    allow_partial: bool,
) -> int | None:
    """``commit_again`` for a people feed (hr-people): taken when the first commit rejected
    no row and, since it, no person and no business unit has changed."""
    row = await conn.fetchrow(
        "SELECT id, committed_at, counts, summary FROM delivery_import"
        " WHERE sha256 = $1 AND profile = $2 AND status = 'committed' ORDER BY id LIMIT 1",
        sha256,
        profile.name,
    )
    if row is None:
        return None
    first = msgspec.json.decode(row["counts"], type=PeopleCounts)
    if first.rejected or first.conflicts:
        return None
    await conn.execute("SELECT pg_advisory_xact_lock($1)", APPLY_LOCK)
    if not await conn.fetchval(_PEOPLE_UNTOUCHED, row["committed_at"]):
        return None
    earlier = msgspec.json.decode(row["summary"], type=ImportSummary)
    previous = PreviousImport(id=row["id"], committed_at=report.when(row["committed_at"]))
    # The file's own warnings and the people not in it, as the first commit found them.
    kept = [w for w in earlier.file_warnings if not w.message.startswith("this file was")]
    summary = msgspec.structs.replace(
        earlier,
        previous_import=previous,
        message=None,
        file_warnings=[report.previous_warning(previous), *kept],
    )
    import_id = await _create(conn, actor, profile.name, file_name, sha256, size, summary)
    counts = PeopleCounts(
        rows=first.rows,
        unchanged=first.new + first.unchanged,
        duplicates=first.duplicates,
        not_in_file=first.not_in_file,
        warnings=await _write_issues(conn, import_id, row["id"], earlier, summary),
    )
    return await _mark_committed(conn, actor, import_id, counts, allow_partial)


async def _mark_committed(
    conn: asyncpg.Connection,
    actor: Actor,
    import_id: int,
    counts: msgspec.Struct,
    allow_partial: bool,
) -> int:
    """The import committed with the counts its earlier twin's report gives, and its event."""
    await conn.execute(
        "UPDATE delivery_import SET counts = $2::jsonb, committed_by = $3, committed_at = now(),"
        " allow_partial = $4 WHERE id = $1",
        import_id,
        msgspec.json.encode(counts).decode(),
        actor.name,
        allow_partial,
    )
    after = {"status": ImportStatus.COMMITTED, **msgspec.structs.asdict(counts)}
    await audit.record(conn, actor, ENTITY, import_id, ImportStatus.COMMITTED, after=after)
    return import_id
