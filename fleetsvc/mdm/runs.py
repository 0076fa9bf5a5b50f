"""MDM sync runs: one run gathers the batches of one sync (push, file or pull) and their
counts and rejected records; opened, locked for each batch, closed or failed, read back."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Sequence
from typing import Annotated, Final

import asyncpg
import msgspec

from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict, NotFound, ValidationFailed
from fleetsvc.mdm.checks import Rejection
from fleetsvc.pagination import Page, PageRequest, make_page
from fleetsvc.vocabulary import MdmRunSource, MdmRunStatus, Vocabulary

MAX_ISSUES_SHOWN: Final = 1_000
RUN_KEY_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
_RUN_KEY = re.compile(RUN_KEY_PATTERN)


def _documented(vocab: type[Vocabulary]) -> msgspec.Meta:
    """A response field from ``vocab``, listed as an enum in the OpenAPI document (what
    ``api.vocabulary.one_of`` does for the API's own Structs; the domain cannot import it)."""
    return msgspec.Meta(extra_json_schema={"extra": {"enum": [str(m) for m in vocab]}})


class RunCounts(msgspec.Struct, frozen=True):
    """What a run (or one of its batches) brought: records received, matched to assets, not
    in the register, assets changed, records rejected."""

    received: int
    matched: int
    unknown: int
    changed: int
    rejected: int


class RunIssue(msgspec.Struct, frozen=True):
    """A rejected record: its batch, its place in the batch (or its row in the file), why."""

    batch: int
    index: int
    mdm_device_id: str | None
    field: str | None
    message: str


class Run(msgspec.Struct, frozen=True):
    """A sync run as the API shows it; ``issues`` are its first rejected records."""

    id: int
    run_id: str
    source: Annotated[str, _documented(MdmRunSource)]
    status: Annotated[str, _documented(MdmRunStatus)]
    created_by: str
    started_at: dt.datetime
    closed_at: dt.datetime | None
    batches: int
    counts: RunCounts
    error: str | None
    issues: list[RunIssue]


class StoredCounts(msgspec.Struct):
    """``mdm_run.counts`` as stored: each batch's counts by batch number (a re-sent batch
    replaces its own), and why the run failed."""

    batches: dict[str, RunCounts] = {}
    error: str | None = None

    def totals(self) -> RunCounts:
        values = self.batches.values()
        return RunCounts(
            received=sum(b.received for b in values),
            matched=sum(b.matched for b in values),
            unknown=sum(b.unknown for b in values),
            changed=sum(b.changed for b in values),
            rejected=sum(b.rejected for b in values),
        )


def new_run_key(source: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{source}-{stamp}-{secrets.token_hex(3)}"


def check_run_key(run_key: str) -> str:
    if not _RUN_KEY.fullmatch(run_key):
        raise ValidationFailed.one(
            "run_id", "run_id must be 1 to 64 letters, digits, dots, colons, dashes or underscores"
        )
    return run_key


def _counts_of(row: asyncpg.Record) -> StoredCounts:
    """A run row's counts (jsonb reaches us as text)."""
    raw = row["counts"]
    if isinstance(raw, str | bytes):
        return msgspec.json.decode(raw, type=StoredCounts)
    return msgspec.convert(raw or {}, StoredCounts)


def run_of(row: asyncpg.Record, issues: list[RunIssue] | None = None) -> Run:
    """A run's row (and its first issues) as the API shows it."""
    stored = _counts_of(row)
    return Run(
        id=row["id"],
        run_id=row["run_key"],
        source=row["source"],
        status=row["status"],
        created_by=row["created_by"],
        started_at=row["started_at"],
        closed_at=row["closed_at"],
        batches=row["batches"],
        counts=stored.totals(),
        error=stored.error,
        issues=issues or [],
    )


async def _insert_run(
    conn: asyncpg.Connection, actor: Actor, run_key: str, source: str
) -> asyncpg.Record | None:
    """A new open run's row, or None when a run of that key exists already."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "INSERT INTO mdm_run (run_key, source, status, created_by, started_at, batches, counts)"
        " VALUES ($1, $2, 'open', $3, now(), 0, '{}') ON CONFLICT (run_key) DO NOTHING"
        " RETURNING *",
        run_key,
        source,
        actor.name[:100],
    )
    return row


async def lock_run(
    conn: asyncpg.Connection, actor: Actor, run_key: str, source: str, *, create: bool
) -> asyncpg.Record:
    """The open run, locked for this transaction (created if ``create``)."""
    lock = "SELECT * FROM mdm_run WHERE run_key = $1 FOR UPDATE"
    # Locked first: every batch but a run's first finds it so, in one round trip.
    row = await conn.fetchrow(lock, run_key)
    if row is None and create:
        row = await _insert_run(conn, actor, run_key, source)
        if row is None:  # another first batch of the run created it meanwhile
            row = await conn.fetchrow(lock, run_key)
    if row is None:
        raise NotFound("open MDM run", run_key)
    if row["status"] == MdmRunStatus.CLOSED:
        raise Conflict(
            f"the MDM run {run_key} is closed; send a new run with a new run_id",
            existing_id=row["id"],
            field="run_id",
        )
    if row["status"] == MdmRunStatus.FAILED:
        raise Conflict(
            f"the MDM run {run_key} failed; send a new run with a new run_id",
            existing_id=row["id"],
            field="run_id",
        )
    if row["source"] != source:
        raise Conflict(
            f"the MDM run {run_key} is a {row['source']} run; use a new run_id",
            existing_id=row["id"],
            field="run_id",
        )
    return row


async def start_run(conn: asyncpg.Connection, actor: Actor, run_key: str, source: str) -> Run:
    """Open a new run (file and pull jobs open theirs before the first batch)."""
    check_run_key(run_key)
    row = await _insert_run(conn, actor, run_key, source)
    if row is None:
        raise Conflict(f"an MDM run {run_key} already exists", field="run_id")
    return run_of(row)


async def fail_run(conn: asyncpg.Connection, run_key: str, message: str) -> None:
    """Mark an open run failed; the batches it applied stay, nothing else is touched."""
    await conn.execute(
        "UPDATE mdm_run SET status = 'failed',"
        " counts = jsonb_set(counts, '{error}', to_jsonb($2::text))"
        " WHERE run_key = $1 AND status = 'open'",
        run_key,
        message[:500],
    )


async def record_batch(
    conn: asyncpg.Connection, row: asyncpg.Record, batch_no: int, counts: RunCounts
) -> asyncpg.Record:
    """Set one batch's counts on the run ``row`` (locked), in place of those of an earlier
    sending of the batch, so nothing is counted twice; returns the run's row as updated."""
    per_batch = _counts_of(row).batches
    previous = per_batch.get(str(batch_no))
    # Changes made by every sending of this batch (a re-send adds only what it changed).
    changed = counts.changed + (previous.changed if previous else 0)
    per_batch[str(batch_no)] = msgspec.structs.replace(counts, changed=changed)
    updated = await conn.fetchrow(
        "UPDATE mdm_run SET batches = $2, counts = jsonb_set(counts, '{batches}', $3::jsonb)"
        " WHERE id = $1 RETURNING *",
        row["id"],
        len(per_batch),
        msgspec.json.encode(per_batch).decode(),
    )
    assert updated is not None
    return updated


def batch_recorded(row: asyncpg.Record, batch_no: int) -> bool:
    """Whether the run ``row`` has applied this batch number before (a re-send)."""
    return str(batch_no) in _counts_of(row).batches


async def record_issues(
    conn: asyncpg.Connection,
    run_id: int,
    batch_no: int,
    rejections: Sequence[Rejection],
    *,
    resent: bool = True,
) -> None:
    """A batch's rejected records, in place of those of an earlier sending of it (none to
    replace when the batch is not ``resent``: issues are written with the batch's counts)."""
    if resent:
        await conn.execute(
            "DELETE FROM mdm_run_issue WHERE run_id = $1 AND batch_no = $2", run_id, batch_no
        )
    if rejections:
        await conn.copy_records_to_table(
            "mdm_run_issue",
            records=[
                (run_id, batch_no, r.index, r.mdm_device_id, r.field, r.message[:1000])
                for r in rejections
            ],
            columns=["run_id", "batch_no", "record_index", "mdm_device_id", "field", "message"],
        )


async def close_run(conn: asyncpg.Connection, row: asyncpg.Record) -> None:
    if _counts_of(row).totals().received == 0:
        raise ValidationFailed.one(
            "final", "the run has received no records; a run with no devices cannot be closed"
        )
    await conn.execute(
        "UPDATE mdm_run SET status = 'closed', closed_at = now() WHERE id = $1", row["id"]
    )


async def get_run(conn: asyncpg.Connection, key: int | str, *, issues_limit: int = 100) -> Run:
    """A run by its id or its run_id (a run_id wins when both could match)."""
    text = str(key)
    as_id = int(text) if text.isascii() and text.isdigit() and len(text) < 12 else None
    row = await conn.fetchrow(
        "SELECT * FROM mdm_run WHERE run_key = $1 OR id = $2 ORDER BY (run_key = $1) DESC LIMIT 1",
        text,
        as_id,
    )
    if row is None:
        raise NotFound("MDM run", key)
    issues: list[RunIssue] = []
    if issues_limit > 0:
        rows = await conn.fetch(
            "SELECT batch_no, record_index, mdm_device_id, field, message FROM mdm_run_issue"
            " WHERE run_id = $1 ORDER BY batch_no, record_index, id LIMIT $2",
            row["id"],
            min(issues_limit, MAX_ISSUES_SHOWN),
        )
        issues = [
            RunIssue(
                batch=r["batch_no"],
                index=r["record_index"],
                mdm_device_id=r["mdm_device_id"],
                field=r["field"],
                message=r["message"],
            )
            for r in rows
        ]
    return run_of(row, issues)


async def list_runs(conn: asyncpg.Connection, page: PageRequest) -> Page[Run]:
    """Runs, newest first."""
    args: list[int] = [page.limit + 1]
    where = ""
    if page.after_id is not None:
        args.append(page.after_id)
        where = " WHERE id < $2"
    rows = await conn.fetch(f"SELECT * FROM mdm_run{where} ORDER BY id DESC LIMIT $1", *args)
    return make_page([run_of(r) for r in rows], page, key=lambda r: r.id)
