"""MDM sync runs: one run gathers the batches of one sync (push, file or pull) and their
counts and rejected records; opened, locked for each batch, closed or failed, read back."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg
import msgspec

from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict, NotFound, ValidationFailed
from fleetsvc.pagination import Page, PageRequest, make_page
from fleetsvc.vocabulary import MdmRunStatus

MAX_ISSUES_SHOWN: Final = 1_000
_RUN_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")


@dataclass(frozen=True, slots=True)
class RunCounts:
    received: int = 0
    matched: int = 0
    unknown: int = 0
    changed: int = 0
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class Issue:
    batch: int
    index: int
    mdm_device_id: str | None
    field: str | None
    message: str


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    run_id: str
    source: str
    status: str
    created_by: str
    started_at: dt.datetime
    closed_at: dt.datetime | None
    batches: int
    counts: RunCounts
    error: str | None = None
    issues: list[Issue] = field(default_factory=list)


def new_run_key(source: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{source}-{stamp}-{secrets.token_hex(3)}"


def check_run_key(run_key: str) -> str:
    if not _RUN_KEY.fullmatch(run_key):
        raise ValidationFailed.one(
            "run_id", "run_id must be 1 to 64 letters, digits, dots, colons, dashes or underscores"
        )
    return run_key


def counts_of(raw: Any) -> tuple[RunCounts, dict[str, dict[str, int]], str | None]:
    data = msgspec.json.decode(raw) if isinstance(raw, str | bytes) else dict(raw or {})
    per_batch: dict[str, dict[str, int]] = data.get("batches", {})
    totals = {k: sum(b.get(k, 0) for b in per_batch.values()) for k in RunCounts.__slots__}
    return RunCounts(**totals), per_batch, data.get("error")


def _run_of(row: asyncpg.Record, issues: list[Issue] | None = None) -> Run:
    counts, _, error = counts_of(row["counts"])
    return Run(
        id=row["id"],
        run_id=row["run_key"],
        source=row["source"],
        status=row["status"],
        created_by=row["created_by"],
        started_at=row["started_at"],
        closed_at=row["closed_at"],
        batches=row["batches"],
        counts=counts,
        error=error,
        issues=issues or [],
    )


async def lock_run(
    conn: asyncpg.Connection, actor: Actor, run_key: str, source: str, *, create: bool
) -> asyncpg.Record:
    """The open run, locked for this transaction (created if ``create``)."""
    row = None
    if create:
        row = await conn.fetchrow(
            "INSERT INTO mdm_run (run_key, source, status, created_by, started_at, batches, counts)"
            " VALUES ($1, $2, 'open', $3, now(), 0, '{}') ON CONFLICT (run_key) DO NOTHING"
            " RETURNING *",
            run_key,
            source,
            actor.name[:100],
        )
    if row is None:
        row = await conn.fetchrow("SELECT * FROM mdm_run WHERE run_key = $1 FOR UPDATE", run_key)
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
    row = await conn.fetchrow(
        "INSERT INTO mdm_run (run_key, source, status, created_by, started_at, batches, counts)"
        " VALUES ($1, $2, 'open', $3, now(), 0, '{}') ON CONFLICT (run_key) DO NOTHING"
        " RETURNING *",
        run_key,
        source,
        actor.name[:100],
    )
    if row is None:
        raise Conflict(f"an MDM run {run_key} already exists", field="run_id")
    return _run_of(row)


async def fail_run(conn: asyncpg.Connection, run_key: str, message: str) -> None:
    """Mark an open run failed; the batches it applied stay, nothing else is touched."""
    await conn.execute(
        "UPDATE mdm_run SET status = 'failed',"
        " counts = jsonb_set(counts, '{error}', to_jsonb($2::text))"
        " WHERE run_key = $1 AND status = 'open'",
        run_key,
        message[:500],
    )


async def close_run(conn: asyncpg.Connection, row: asyncpg.Record) -> None:
    counts, _, _ = counts_of(row["counts"])
    if counts.received == 0:
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
    issues: list[Issue] = []
    if issues_limit > 0:
        rows = await conn.fetch(
            "SELECT batch_no, record_index, mdm_device_id, field, message FROM mdm_run_issue"
            " WHERE run_id = $1 ORDER BY batch_no, record_index, id LIMIT $2",
            row["id"],
            min(issues_limit, MAX_ISSUES_SHOWN),
        )
        issues = [
            Issue(r["batch_no"], r["record_index"], r["mdm_device_id"], r["field"], r["message"])
            for r in rows
        ]
    return _run_of(row, issues)


async def list_runs(conn: asyncpg.Connection, page: PageRequest) -> Page[Run]:
    """Runs, newest first."""
    args: list[Any] = [page.limit + 1]
    where = ""
    if page.after_id is not None:
        args.append(page.after_id)
        where = " WHERE id < $2"
    rows = await conn.fetch(f"SELECT * FROM mdm_run{where} ORDER BY id DESC LIMIT $1", *args)
    return make_page([_run_of(r) for r in rows], page, key=lambda r: r.id)
