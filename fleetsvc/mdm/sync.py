"""How MDM records reach a run: a batch pushed over the API, or a whole run as a job fed
by the console's export file or by the Graph API's pages (``fleetsvc.mdm.graph``), each
batch applied in its own transaction."""

from __future__ import annotations

import asyncio
import zipfile
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Sequence,
)
from contextlib import aclosing, contextmanager
from pathlib import Path
from typing import IO, Final, TypeVar, cast

import asyncpg

from db.engine import transaction
from fleetsvc.auth import Actor
from fleetsvc.errors import FleetError, TooLarge, ValidationFailed
from fleetsvc.logs import get_logger
from fleetsvc.mdm.apply import apply_batch
from fleetsvc.mdm.checks import (
    EXPORT_FIELDS,
    Checked,
    ManagedDevice,
    check_device,
    check_export_row,
)
from fleetsvc.mdm.runs import (
    Run,
    check_run_key,
    close_run,
    fail_run,
    get_run,
    lock_run,
    new_run_key,
    start_run,
)
from fleetsvc.vocabulary import MdmRunSource
from importers import FileRejected, get_profile, parse_file

log = get_logger("fleetsvc.mdm")

MAX_BATCH: Final = 5_000
PULL_BATCH: Final = 1_000
FILE_BATCH: Final = 5_000
MAX_BATCH_NO: Final = 1_000_000  # a push run's batches are numbered 1 to this


async def push_batch(
    conn: asyncpg.Connection,
    actor: Actor,
    *,
    run_key: str,
    batch_no: int | None,
    devices: Sequence[ManagedDevice],
    final: bool,
    issues_limit: int = 100,
) -> Run:
    """A batch pushed over the API (``POST /api/v1/mdm/sync``)."""
    if len(devices) > MAX_BATCH:
        raise TooLarge(
            f"a batch may hold at most {MAX_BATCH:,} records; this one has {len(devices):,}"
            " — split it into more batches of the same run"
        )
    check_run_key(run_key)
    if batch_no is not None and not 1 <= batch_no <= MAX_BATCH_NO:
        raise ValidationFailed.one("batch", f"batch must be a number from 1 to {MAX_BATCH_NO}")
    if devices and batch_no is None:
        raise ValidationFailed.one("batch", "a batch with records needs its batch number")
    if batch_no is None:
        # A closing call with no records.
        run = await lock_run(conn, actor, run_key, MdmRunSource.PUSH, create=False)
        await close_run(conn, run)
        return await get_run(conn, run["id"], issues_limit=issues_limit)
    checked = [check_device(i, d) for i, d in enumerate(devices)]
    run_ = await apply_batch(
        conn,
        actor,
        run_key=run_key,
        source=MdmRunSource.PUSH,
        batch_no=batch_no,
        checked=checked,
        final=final,
    )
    if run_.counts.rejected == 0 or issues_limit <= 0:
        return run_  # a run with no rejected record has no issues to list
    return await get_run(conn, run_.id, issues_limit=issues_limit)


BatchApplied = Callable[[asyncpg.Connection, Run], Awaitable[None]]
"""Told of each batch of a whole run once it is applied: called in the batch's own
transaction with the run as it then stands, so what a job records there (its progress)
commits with the batch or not at all."""


async def run_batches(
    actor: Actor,
    run_key: str,
    source: str,
    chunks: AsyncIterable[Sequence[Checked]],
    *,
    on_batch: BatchApplied | None = None,
) -> Run:
    """A whole run as a job: open it, apply each chunk in its own transaction, close it.

    A failure part way marks the run failed: the batches already applied stay (each was
    applied whole), nothing else is touched, and no device is treated as unseen.
    """
    async with transaction() as conn:
        await start_run(conn, actor, run_key, source)
    batch_no = 0
    try:
        async for chunk in chunks:
            batch_no += 1
            async with transaction() as conn:
                run = await apply_batch(
                    conn,
                    actor,
                    run_key=run_key,
                    source=source,
                    batch_no=batch_no,
                    checked=chunk,
                    create=False,
                )
                if on_batch is not None:
                    await on_batch(conn, run)
        async with transaction() as conn:
            await close_run(conn, await lock_run(conn, actor, run_key, source, create=False))
    except Exception as exc:
        message = exc.message if isinstance(exc, FleetError) else type(exc).__name__
        async with transaction() as conn:
            await fail_run(conn, run_key, message)
        log.warning("mdm_run_failed", run_key=run_key, batches=batch_no, reason=message)
        raise
    async with transaction() as conn:
        return await get_run(conn, run_key, issues_limit=20)


async def chunk_devices(
    pages: AsyncIterable[Sequence[ManagedDevice]], size: int = PULL_BATCH
) -> AsyncIterator[list[Checked]]:
    """Pages of MDM records, checked and re-cut into batches of ``size``."""
    buffer: list[Checked] = []
    async for page in pages:
        for device in page:
            buffer.append(check_device(len(buffer), device))
            if len(buffer) == size:
                yield buffer
                buffer = []
    if buffer:
        yield buffer


class ExportRejected(FleetError):
    title = "Export file rejected"


MAX_EXPORT_BYTES: Final = 2 << 30


@contextmanager
def open_export(path: Path) -> Iterator[IO[bytes]]:
    """The export's CSV: the file itself, or the one CSV inside the MDM's zipped export."""
    try:
        if not zipfile.is_zipfile(path):
            with path.open("rb") as f:
                yield f
            return
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.infolist() if m.filename.lower().endswith(".csv")]
            if len(members) != 1:
                raise ExportRejected(
                    f"the zip holds {len(members)} CSV files; the MDM export holds exactly one"
                )
            if members[0].file_size > MAX_EXPORT_BYTES:
                raise ExportRejected("the CSV inside the zip is larger than 2 GiB")
            with zf.open(members[0]) as f:
                yield f
    except (OSError, zipfile.BadZipFile) as exc:
        raise ExportRejected(f"cannot read {path.name}: {exc.__class__.__name__}") from None


def read_export(
    stream: IO[bytes], filename: str, size: int = FILE_BATCH
) -> Iterator[list[Checked]]:
    """The export's rows, checked, in batches of ``size``."""
    try:
        parsed = parse_file(stream, filename, get_profile("intune-devices"))  # type: ignore[arg-type]
        used = frozenset(h for name, h in parsed.columns.items() if name in EXPORT_FIELDS)
        buffer: list[Checked] = []
        for row in parsed:
            buffer.append(check_export_row(row, used))
            if len(buffer) == size:
                yield buffer
                buffer = []
    except FileRejected as exc:
        raise ExportRejected(exc.message) from None
    if buffer:
        yield buffer


_T = TypeVar("_T")
_END: Final = object()


async def read_ahead(items: Iterator[_T]) -> AsyncGenerator[_T, None]:
    """The items of a blocking iterator, each next one made in a thread while the caller
    works on this one: the export's parse and checks (0.6 s of CPU for 40,000 rows) run
    while the database applies the batch before, instead of after it. One item ahead at
    most, so memory stays at two batches."""
    pending = asyncio.ensure_future(asyncio.to_thread(next, items, _END))
    try:
        while (item := await pending) is not _END:
            pending = asyncio.ensure_future(asyncio.to_thread(next, items, _END))
            yield cast(_T, item)
    finally:
        # A run that stops part way lets the read under way finish before its file closes.
        if not pending.done():
            await asyncio.wait({pending})
        if not pending.cancelled():
            pending.exception()  # retrieved: the run's own failure is the one reported


async def sync_file(
    actor: Actor, path: Path, run_key: str | None = None, *, on_batch: BatchApplied | None = None
) -> Run:
    """``fleetsvc mdm sync --file``: one run from the console export (CSV, or zipped CSV)."""
    key = run_key or new_run_key(MdmRunSource.FILE)
    with open_export(path) as stream:
        async with aclosing(read_ahead(read_export(stream, path.name, FILE_BATCH))) as chunks:
            return await run_batches(actor, key, MdmRunSource.FILE, chunks, on_batch=on_batch)
