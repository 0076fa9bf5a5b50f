"""An import run, from the uploaded file to its report: read and stage the file, then preview
or commit it; and the commit of an import previewed earlier.

A run is a job that owns its transactions (like a CLI command): the import row is created
first and its counts move as batches of parsed rows are COPYed into ``import_staged_row``
(``staging``: each batch its own short transaction, so ``GET /imports/{id}`` shows progress);
then one transaction classifies and, for a commit, applies every row set-based
(``evaluate``). The file is read from disk in a worker thread, one batch at a time, so memory
stays flat however long the file is. A run that fails leaves the import ``failed``, its
staged rows gone and nothing applied.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import BinaryIO, Final

import asyncpg
import msgspec

from db.engine import connection, is_outage, transaction
from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from fleetsvc.imports import apply_deliveries, repeat, report
from fleetsvc.imports.evaluate import OnPhase, evaluate
from fleetsvc.imports.profiles import import_profile
from fleetsvc.imports.queries import ENTITY, get_import
from fleetsvc.imports.staging import Progress, stage
from fleetsvc.imports.summary import DeliveryImport, ImportSummary, Skipped, StagedCounts
from fleetsvc.locations import location_id_of_code
from fleetsvc.records import check_id, insert_row
from fleetsvc.settings import get_settings
from fleetsvc.vocabulary import ImportMode, ImportStatus
from importers import FileRejected, ParsedFile, Profile, RowBatch, parse_file

FAILED_READING: Final = "the import stopped before the file was read"
FAILED_APPLYING: Final = "the import failed while it was being applied"


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A file read into the staging table: its import, rows and summary so far."""

    import_id: int
    rows: int
    summary: ImportSummary


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
    location: str | None = None,
) -> DeliveryImport:
    """Read the file at ``path``, stage it, then preview or commit it; returns the import.
    A delivery's devices arrive at the location whose code ``location`` is (None: the
    default location)."""
    if not ImportMode.has(mode):
        raise ValidationFailed.one("mode", "mode must be preview or commit")
    profile = import_profile(profile_name, extra_profile_dirs)
    name = (file_name or path.name)[:255]
    location_id = await _arrival(profile, location)
    if mode == ImportMode.COMMIT:
        # A file committed before is recognised by its SHA-256, before it is read.
        again = await repeat.commit_again_of_path(
            actor, path, name, profile, allow_partial=allow_partial
        )
        if again is not None:
            async with connection() as conn:
                return await get_import(conn, again)
    staged = await stage_file(actor, path, name, profile, progress, location_id=location_id)
    try:
        async with transaction() as conn:
            await conn.execute(
                "UPDATE delivery_import SET summary = $2::jsonb WHERE id = $1",
                staged.import_id,
                msgspec.json.encode(staged.summary).decode(),
            )
            await evaluate(
                conn,
                actor,
                staged.import_id,
                apply=mode == ImportMode.COMMIT,
                allow_partial=allow_partial,
                staged_rows=staged.rows,
            )
    except BaseException:
        await asyncio.shield(_fail(staged.import_id, FAILED_APPLYING))
        raise
    async with connection() as conn:
        if mode == ImportMode.COMMIT:
            await apply_deliveries.summarise_history(conn)
        return await get_import(conn, staged.import_id)


async def _arrival(profile: Profile, location: str | None) -> int | None:
    """Where a delivery's devices arrive: the location ``location`` names, else the default
    one. Another kind of file brings no devices to a store, so it takes no location."""
    if profile.kind != "delivery":
        if location is not None and location.strip():
            raise ValidationFailed.one(
                "location", f"a {profile.name} file brings no devices to a store: send no location"
            )
        return None
    async with connection() as conn:
        return await location_id_of_code(conn, "location", location)


async def stage_file(
    actor: Actor,
    path: Path,
    file_name: str,
    profile: Profile,
    progress: Progress | None,
    *,
    location_id: int | None = None,
) -> StagedFile:
    """Create the import (its devices to arrive at ``location_id``) and COPY the file's rows
    into the staging table."""
    sha256, size = await asyncio.to_thread(_digest, path)
    stream = await asyncio.to_thread(path.open, "rb")
    try:
        parsed, data_rows = await _open(stream, file_name, profile)
        fields = list(parsed.columns)
        summary = _layout(parsed, profile)
        async with transaction() as conn:
            await expire_old_previews(conn, get_settings().preview_days)
            import_id = await _create(
                conn, actor, profile, file_name, sha256, size, summary, location_id
            )

        def share() -> float | None:
            # The CSV reader reads the file in order, at most a MiB ahead of the rows.
            if parsed.format != "csv" or not size:
                return None
            return min(stream.tell() / size, 1.0)

        try:
            rows = await stage(import_id, parsed, data_rows, profile.kind, fields, progress, share)
        except FileRejected as exc:
            await _fail(import_id, exc.message)
            raise _file_problem(exc.message) from None
        except BaseException:
            await asyncio.shield(_fail(import_id, FAILED_READING))
            raise
    finally:
        await asyncio.to_thread(stream.close)
    _read(summary, parsed)
    return StagedFile(import_id, rows, summary)


def _layout(parsed: ParsedFile, profile: Profile) -> ImportSummary:
    """The summary an import starts with: the file's layout."""
    fields = list(parsed.columns)
    return ImportSummary(
        kind=profile.kind,
        format=parsed.format,
        fields=fields,
        headers=[parsed.columns[name] for name in fields],
        header_row=parsed.header_row,
    )


def _read(summary: ImportSummary, parsed: ParsedFile) -> None:
    """What the summary learns once the whole file is read."""
    summary.file_warnings = report.file_warnings(parsed)
    skipped = parsed.skipped
    summary.skipped = Skipped(skipped.blank, skipped.repeated_header, skipped.totals)


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """An upload to commit, checked before any import exists for it: its profile, where its
    devices arrive, its digest and its layout (its header and first row were read)."""

    path: Path
    file_name: str
    profile: Profile
    location_id: int | None
    sha256: str
    size: int
    summary: ImportSummary


async def check_file(
    path: Path,
    file_name: str,
    profile_name: str,
    *,
    extra_profile_dirs: Sequence[Path] = (),
    location: str | None = None,
    digest: tuple[str, int] | None = None,
) -> CheckedFile:
    """Refuse now what a commit of the file would refuse before reading its rows: an unknown
    profile or location, a file with no header or no data rows. ``digest``: the file's
    SHA-256 and size when the caller has them (an upload hashed as it was received)."""
    profile = import_profile(profile_name, extra_profile_dirs)
    name = (file_name or path.name)[:255]
    location_id = await _arrival(profile, location)
    if digest is None:
        digest = await asyncio.to_thread(_digest, path)
    sha256, size = digest
    stream = await asyncio.to_thread(path.open, "rb")
    try:
        # Its first data row is enough to know it has one: the job reads the file anew.
        parsed, _rows = await _open(stream, name, profile, first_rows=1)
    finally:
        await asyncio.to_thread(stream.close)
    return CheckedFile(path, name, profile, location_id, sha256, size, _layout(parsed, profile))


async def create_checked(conn: asyncpg.Connection, actor: Actor, checked: CheckedFile) -> int:
    """Create the import of a checked file (``running``, nothing staged), in the caller's
    transaction; its id."""
    await expire_old_previews(conn, get_settings().preview_days)
    c = checked
    return await _create(
        conn, actor, c.profile, c.file_name, c.sha256, c.size, c.summary, c.location_id
    )


async def stage_checked(
    import_id: int, checked: CheckedFile, progress: Progress | None
) -> StagedFile:
    """COPY a checked file's rows into the staging table of its import. A file found
    unreadable part-way fails the import (its message) and is a ``ValidationFailed``; any
    other failure is the caller's to record."""
    summary = msgspec.structs.replace(checked.summary)
    stream = await asyncio.to_thread(checked.path.open, "rb")
    try:
        parsed, data_rows = await _open(stream, checked.file_name, checked.profile)
        size = checked.size

        def share() -> float | None:
            if parsed.format != "csv" or not size:
                return None
            return min(stream.tell() / size, 1.0)

        try:
            rows = await stage(
                import_id, parsed, data_rows, checked.profile.kind, summary.fields, progress, share
            )
        except FileRejected as exc:
            await _fail(import_id, exc.message)
            raise _file_problem(exc.message) from None
    finally:
        await asyncio.to_thread(stream.close)
    _read(summary, parsed)
    return StagedFile(import_id, rows, summary)


async def apply_staged_file(
    conn: asyncpg.Connection,
    actor: Actor,
    staged: StagedFile,
    *,
    allow_partial: bool,
    on_phase: OnPhase | None = None,
) -> None:
    """Commit a file just staged, in the caller's transaction (what ``run_import`` does for a
    commit once the file is read)."""
    await conn.execute(
        "UPDATE delivery_import SET summary = $2::jsonb WHERE id = $1",
        staged.import_id,
        msgspec.json.encode(staged.summary).decode(),
    )
    await evaluate(
        conn,
        actor,
        staged.import_id,
        apply=True,
        allow_partial=allow_partial,
        staged_rows=staged.rows,
        on_phase=on_phase,
    )


async def _open(
    stream: BinaryIO, file_name: str, profile: Profile, *, first_rows: int | None = None
) -> tuple[ParsedFile, Iterator[RowBatch]]:
    """The parsed file and its data rows, in batches (of ``first_rows`` rows each when given,
    else the parser's). The first batch is read before the import is created: a file with no
    data row is refused like an empty file, with nothing written."""
    try:
        parsed = await asyncio.to_thread(parse_file, stream, file_name, profile)
        data_rows = parsed.batches() if first_rows is None else parsed.batches(first_rows)
        first = await asyncio.to_thread(next, data_rows, None)
    except FileRejected as exc:
        raise _file_problem(exc.message) from None
    if first is None:
        raise _file_problem(report.no_rows_message(parsed))
    return parsed, chain([first], data_rows)


def _file_problem(message: str) -> ValidationFailed:
    return ValidationFailed([FieldProblem("file", message)], message)


def _digest(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


async def expire_old_previews(conn: asyncpg.Connection, days: int) -> None:
    """Previews nobody committed keep their staged rows only ``days`` days (a 300,000-row
    preview holds about a hundred MB); an import still "running" after that has died."""
    await conn.execute(
        "UPDATE delivery_import SET status = 'failed',"
        " summary = summary || jsonb_build_object('message', $2::text)"
        " WHERE status = 'running' AND created_at < now() - make_interval(days => $1)",
        days,
        FAILED_READING,
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
    summary: ImportSummary,
    location_id: int | None,
) -> int:
    row = await insert_row(
        conn,
        "delivery_import",
        {
            "profile": profile.name,
            "file_name": file_name,
            "sha256": sha256,
            "size_bytes": size,
            "status": ImportStatus.RUNNING,
            "allow_partial": False,
            "created_by": actor.name,
            "created_role": actor.role,
            "request_id": actor.request_id,
            "counts": msgspec.json.encode(StagedCounts()).decode(),
            "summary": msgspec.json.encode(summary).decode(),
            "location_id": location_id,
        },
    )
    import_id: int = row["id"]
    await audit.record(
        conn,
        actor,
        ENTITY,
        import_id,
        "created",
        after={
            "profile": profile.name,
            "file_name": file_name,
            "sha256": sha256,
            "size": size,
            "location_id": location_id,
        },
    )
    return import_id


async def _fail(import_id: int, message: str) -> None:
    """Mark the import failed, in a transaction of its own. With the database gone that
    cannot be done: the import is left running, and the error that stopped it stands."""
    try:
        async with transaction() as conn:
            await conn.execute("DELETE FROM import_staged_row WHERE import_id = $1", import_id)
            await conn.execute(
                "UPDATE delivery_import SET status = 'failed',"
                " summary = summary || jsonb_build_object('message', $2::text)"
                " WHERE id = $1 AND status = 'running'",
                import_id,
                message,
            )
    except Exception as exc:
        if not is_outage(exc):
            raise


async def commit_import(actor: Actor, import_id: int, *, allow_partial: bool) -> DeliveryImport:
    """Commit a previewed (or rejected) import; committing a committed one changes nothing."""
    check_id(ENTITY, import_id)
    async with transaction() as conn:
        await commit_staged(conn, actor, import_id, allow_partial=allow_partial)
    async with connection() as conn:
        await apply_deliveries.summarise_history(conn)
        return await get_import(conn, import_id)


async def commit_staged(
    conn: asyncpg.Connection,
    actor: Actor,
    import_id: int,
    *,
    allow_partial: bool,
    on_phase: OnPhase | None = None,
) -> None:
    """Commit a previewed (or rejected) import in the caller's transaction: the one entry
    point for whatever runs the commit (a request, a command, a job)."""
    check_id(ENTITY, import_id)
    row = await conn.fetchrow(
        "SELECT status, counts FROM delivery_import WHERE id = $1 FOR UPDATE", import_id
    )
    if row is None:
        raise NotFound(ENTITY, import_id)
    status = row["status"]
    if status == ImportStatus.COMMITTED:
        return
    if status not in (ImportStatus.PREVIEWED, ImportStatus.REJECTED):
        raise Conflict(f"import {import_id} is {status}; it cannot be committed")
    staged = await conn.fetchval(
        "SELECT count(*) FROM import_staged_row WHERE import_id = $1", import_id
    )
    if staged != msgspec.json.decode(row["counts"], type=StagedCounts).rows:
        raise Conflict(
            f"the rows of import {import_id} are no longer staged (a preview is kept "
            f"for {get_settings().preview_days} days, and a database restart clears "
            "previews); upload the file again"
        )
    await evaluate(
        conn,
        actor,
        import_id,
        apply=True,
        allow_partial=allow_partial,
        staged_rows=staged,
        on_phase=on_phase,
    )
