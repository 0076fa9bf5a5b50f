"""Evaluating an import's staged rows, in the caller's transaction: classify them, write the
report, decide the status and, for a commit, apply what may be.

The steps, in order: lock the import (and, for a commit, take the apply lock); build the plan
and count its outcomes (``plan``, ``plan_deliveries``, ``plan_installs``); gather the
summary's lines and warnings (``orders``, ``report``); write the row issues and rejected rows;
decide the status (previewed, rejected or committed); apply the new rows set-based
(``apply_deliveries``, ``apply_installs``); record the outcome on the import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

import asyncpg
import msgspec

from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.imports import (
    apply_deliveries,
    apply_installs,
    apply_people,
    orders,
    plan,
    plan_deliveries,
    plan_installs,
    plan_people,
    report,
)
from fleetsvc.imports.queries import ENTITY
from fleetsvc.imports.summary import (
    DeliveryCounts,
    ImportSummary,
    InstallCounts,
    PeopleCounts,
    StoredWarning,
)
from fleetsvc.settings import get_settings
from fleetsvc.vocabulary import ImportStatus

# Applies are serialised: a plan made in the transaction is then true when it is applied.
APPLY_LOCK: Final = 0x696D706F72747331  # "imports1"
WORK_MEM: Final = "64MB"

AnyCounts = DeliveryCounts | InstallCounts | PeopleCounts
# Each profile kind's plan.
PLANS: Final = {
    "delivery": plan_deliveries.PLAN,
    "install": plan_installs.PLAN,
    "people": plan_people.PLAN,
}

# Told as each step of an evaluation starts (a job can show it as its phase).
Phase = Literal["classifying", "reporting", "applying"]
OnPhase = Callable[[Phase], None]


@dataclass(slots=True)
class _Import:
    """The import being evaluated, as locked for this transaction."""

    id: int
    sha256: str
    profile: str
    summary: ImportSummary
    not_in_file: int = 0  # a people feed: active people the file does not list


async def evaluate(
    conn: asyncpg.Connection,
    actor: Actor,
    import_id: int,
    *,
    apply: bool,
    allow_partial: bool,
    staged_rows: int,
    on_phase: OnPhase | None = None,
) -> None:
    """Classify the staged rows, write the report and, if ``apply``, commit what may be."""
    tell = on_phase or _quiet
    imp = await _lock(conn, import_id, apply=apply)
    tell("classifying")
    counts = await _classify(conn, imp, staged_rows)
    tell("reporting")
    await _summarise(conn, imp)
    counts.warnings = await report.write_rows(
        conn, import_id, imp.summary, held_back=counts.rejected + counts.conflicts
    )
    status = _decide(counts, apply=apply, allow_partial=allow_partial)
    if status == ImportStatus.COMMITTED:
        tell("applying")
        await _apply(conn, actor, import_id, counts)
    imp.summary.message = _message(status, counts, imp.summary.message)
    await _record(conn, actor, imp, status, allow_partial, counts)


def _quiet(_phase: Phase) -> None:
    return None


async def _lock(conn: asyncpg.Connection, import_id: int, *, apply: bool) -> _Import:
    row = await conn.fetchrow(
        "SELECT id, sha256, profile, summary FROM delivery_import WHERE id = $1 FOR UPDATE",
        import_id,
    )
    assert row is not None
    if apply:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", APPLY_LOCK)
    # Sorts and hashes of a whole file's rows: in memory, not spilled to disk (this
    # transaction only).
    await conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
    summary = msgspec.json.decode(row["summary"] or "{}", type=ImportSummary)
    return _Import(row["id"], row["sha256"], row["profile"], summary)


async def _classify(conn: asyncpg.Connection, imp: _Import, staged_rows: int) -> AnyCounts:
    """Build the plan of the profile's kind and count its outcomes."""
    kind = imp.summary.kind
    changed = await plan.build(conn, imp.id, PLANS[kind], staged_rows=staged_rows)
    if kind == "people":
        changed += await plan_people.past_retention(conn, get_settings().leaver_retention_days)
    if changed:
        # The plan's statistics were taken before the rules decided the outcomes: every later
        # statement filters on outcome, and without this the planner takes "new" rows for
        # none. (Where no rule changed a row, as in a clean delivery, they are right.)
        await plan.analyze(conn, "outcome")
    if kind == "install":
        return await plan_installs.count(conn, staged_rows)
    if kind == "people":
        counts = await plan_people.count(conn, staged_rows)
        counts.not_in_file, imp.summary.not_in_file = await plan_people.not_in_file(conn)
        imp.not_in_file = counts.not_in_file
        return counts
    return await plan_deliveries.count(conn, staged_rows)


async def _summarise(conn: asyncpg.Connection, imp: _Import) -> None:
    """The summary's previous import, purchase-order and licence lines, and warnings: the
    file's own, then what the checks found this time."""
    summary = imp.summary
    warnings = [w for w in summary.file_warnings if not w.generated]
    summary.previous_import = await report.previous_import(conn, imp.id, imp.sha256, imp.profile)
    if summary.previous_import is not None:
        warnings.insert(0, report.previous_warning(summary.previous_import))
    if summary.kind == "people":
        summary.po_lines, summary.licences = [], []
        if imp.not_in_file:
            warnings.append(_not_in_file_warning(imp.not_in_file, len(summary.not_in_file)))
    elif summary.kind == "install":
        summary.po_lines, summary.licences = [], []
    else:
        summary.po_lines = await orders.po_lines(conn, imp.id)
        summary.licences = await orders.licence_lines(conn)
        warnings.extend(orders.order_warnings(summary.po_lines))
        warnings.extend(await orders.airtime_warnings(conn))
    summary.file_warnings = warnings


def _not_in_file_warning(total: int, shown: int) -> StoredWarning:
    listed = "" if shown >= total else f" (the first {shown:,} listed)"
    return StoredWarning(
        row=None,
        message=f"{total:,} people in post in the register are not in this file{listed}: "
        "nobody is "
        "deleted or marked a leaver for that; if this is a full export, check whether "
        "they have left (not_in_file lists them by id)",
        generated=True,
    )


def _decide(counts: AnyCounts, *, apply: bool, allow_partial: bool) -> ImportStatus:
    if not apply:
        return ImportStatus.PREVIEWED
    if counts.blocking and not allow_partial:
        return ImportStatus.REJECTED
    return ImportStatus.COMMITTED


def _message(status: ImportStatus, counts: AnyCounts, current: str | None) -> str | None:
    if status == ImportStatus.REJECTED:
        return (
            f"{counts.rejected:,} row(s) rejected and {counts.conflicts:,} in conflict: "
            "nothing was committed; fix them, or commit with allow_partial to commit the "
            "valid rows"
        )
    if status == ImportStatus.COMMITTED:
        return None
    return current


async def _apply(
    conn: asyncpg.Connection,
    actor: Actor,
    import_id: int,
    counts: AnyCounts,
) -> None:
    if isinstance(counts, InstallCounts):
        counts.installs = await apply_installs.apply(conn, actor, import_id)
    elif isinstance(counts, PeopleCounts):
        await apply_people.apply(conn, actor, counts)
    else:
        await apply_deliveries.apply(conn, actor, import_id, counts)


async def _record(
    conn: asyncpg.Connection,
    actor: Actor,
    imp: _Import,
    status: ImportStatus,
    allow_partial: bool,
    counts: AnyCounts,
) -> None:
    """The import's status, counts and summary, its event, and its staged rows gone once
    committed."""
    await conn.execute(
        "UPDATE delivery_import SET status = $2::text, allow_partial = $3, counts = $4::jsonb,"
        " summary = $5::jsonb,"
        " committed_by = CASE WHEN $2::text = 'committed' THEN $6 ELSE committed_by END,"
        " committed_at = CASE WHEN $2::text = 'committed' THEN now() ELSE committed_at END"
        " WHERE id = $1",
        imp.id,
        status,
        allow_partial,
        msgspec.json.encode(counts).decode(),
        msgspec.json.encode(imp.summary).decode(),
        actor.name,
    )
    after = {"status": status, **msgspec.structs.asdict(counts)}
    await audit.record(conn, actor, ENTITY, imp.id, status, after=after)
    if status == ImportStatus.COMMITTED:
        await conn.execute("DELETE FROM import_staged_row WHERE import_id = $1", imp.id)
