"""The service's own job kinds: the MDM pull, clearing old import previews, the daily notice.

Each runs what the matching command or request already runs; they are jobs so that a
schedule can queue them and any worker can run them, once.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import asyncpg
import msgspec

from db.engine import transaction
from fleetsvc.imports.run import expire_old_previews
from fleetsvc.jobs.kinds import (
    Interruption,
    JobContext,
    JobKind,
    JobRecord,
    Recovery,
    Result,
    register,
)
from fleetsvc.mdm import graph, runs
from fleetsvc.notices import content, delivery
from fleetsvc.settings import Settings, SettingsError
from fleetsvc.subject_access.retention import pseudonymise_due
from fleetsvc.vocabulary import Role

MDM_PULL = "mdm.pull"
EXPIRE_PREVIEWS = "imports.expire_previews"
NOTICE = content.NOTICE_KIND
PSEUDONYMISE = "people.pseudonymise"


class Scheduled(msgspec.Struct, forbid_unknown_fields=True):
    """A scheduled run's payload: the due time it was queued for."""

    due: dt.datetime | None = None


class MdmPull(Scheduled, forbid_unknown_fields=True):
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 1000


def pull_run_key(job_id: int, attempt: int) -> str:
    """The MDM run an attempt of a pull job opens: named so its recovery can find it."""
    return f"pull-job{job_id}-attempt{attempt}"


async def pull_from_mdm(ctx: JobContext, payload: MdmPull) -> Result:
    """What ``fleetsvc mdm pull`` runs: one run (source ``pull``) from the Graph API."""
    config = graph.GraphConfig.from_env()
    run, stats = await graph.pull(
        ctx.actor,
        config,
        run_key=pull_run_key(ctx.job.id, ctx.attempt),
        batch_size=payload.batch_size,
    )
    c = run.counts
    return {
        "run_id": run.run_id,
        "status": run.status,
        "received": c.received,
        "matched": c.matched,
        "unknown": c.unknown,
        "changed": c.changed,
        "rejected": c.rejected,
        "pages": stats.pages,
        "requests": stats.requests,
    }


async def fail_interrupted_pull(
    conn: asyncpg.Connection, job: JobRecord, interruption: Interruption
) -> Recovery | None:
    """The run an interrupted attempt left open is failed (its applied batches stay), so it
    neither stays open for ever nor counts as the latest closed run."""
    await runs.fail_run(conn, pull_run_key(job.id, job.attempts), interruption.message)
    return None  # the job itself: queued again when attempts remain


async def expire_previews(ctx: JobContext, payload: Scheduled) -> Result:
    """Previews nobody committed lose their staged rows after FLEETSVC_PREVIEW_DAYS."""
    days = ctx.settings.preview_days
    async with transaction() as conn:
        await expire_old_previews(conn, days)
    return {"preview_days": days}


async def send_notice(ctx: JobContext, payload: Scheduled) -> Result:
    """Build today's notice and send it to each configured destination.

    A notice with nothing to say is not sent. On a retry (a destination was down), a
    destination the notice already reached (recorded in the job's progress) is skipped.
    """
    settings = ctx.settings
    now = dt.datetime.now(dt.UTC)
    until = {"failed_jobs_until": now.isoformat()}
    if not settings.notices.has_destination:
        return {"sent": False, "reason": "no webhook or e-mail is configured", **until}
    async with transaction() as conn:
        notice = await content.build_notice(conn, settings, now)
    done = ctx.job.progress.get("counts")
    sent = {k: v for k, v in done.items() if isinstance(v, int)} if isinstance(done, dict) else {}
    result = await delivery.deliver(settings.notices, notice, sent, ctx.progress)
    return {**result, **until}


async def pseudonymise_leavers(ctx: JobContext, payload: Scheduled) -> Result:
    """Leavers past FLEETSVC_LEAVER_RETENTION_DAYS, their devices dealt with, pseudonymised."""
    days = ctx.settings.leaver_retention_days
    done = await pseudonymise_due(ctx.actor, days)
    return {"retention_days": days, "people": done.people, "values_erased": done.values_erased}


register(
    JobKind(
        MDM_PULL,
        MdmPull,
        pull_from_mdm,
        "Read the MDM's device list through its Graph API and reconcile (fleetsvc mdm pull)",
        roles=frozenset({Role.MDM}),
        recover=fail_interrupted_pull,
    )
)
register(
    JobKind(
        EXPIRE_PREVIEWS,
        Scheduled,
        expire_previews,
        "Clear the staged rows of import previews older than FLEETSVC_PREVIEW_DAYS",
        roles=frozenset({Role.STORES}),
    )
)
register(
    JobKind(
        NOTICE,
        Scheduled,
        send_notice,
        "Send the daily notice of what needs attention (webhook and/or e-mail)",
    )
)

register(
    JobKind(
        PSEUDONYMISE,
        Scheduled,
        pseudonymise_leavers,
        "Pseudonymise leavers past FLEETSVC_LEAVER_RETENTION_DAYS (fleetsvc people pseudonymise"
        " --due)",
    )
)


def check_settings(settings: Settings) -> None:
    """What the schedules need beyond their own variables; a gap stops the service at start."""
    for s in settings.jobs.schedules:
        if s.kind == MDM_PULL:
            try:
                graph.GraphConfig.from_env()
            except graph.GraphConfigError as exc:
                raise SettingsError(f"{s.variable} is set, but: {exc.message}") from None
