"""How a job ended, as the worker writes it: succeeded, failed (with a message for whoever
reads the job), cancelled, to be retried after a delay, or released by a stopping worker."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fleetsvc.errors import FleetError
from fleetsvc.jobs import queue
from fleetsvc.jobs.kinds import JobKind, JobRecord, RetryLater
from fleetsvc.jobs.outages import database_gone
from fleetsvc.logs import get_logger

log = get_logger("fleetsvc.jobs")


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Literal["succeeded", "failed", "cancelled", "retry", "released"]
    result: Mapping[str, object] | None = None
    error: str | None = None
    delay: float = 0.0


def failure(kind: JobKind[Any], job: JobRecord, exc: Exception) -> Outcome:
    """The outcome of a job whose work raised ``exc``: retried when that is safe and
    attempts are left, else failed with a message that says why."""
    attempts_left = job.attempts < job.max_attempts
    delay = queue.backoff_seconds(job.attempts)
    if database_gone(exc):
        what = f"the database connection was lost ({type(exc).__name__})"
        if kind.retry_safe and attempts_left:
            return Outcome("retry", error=f"{what}; trying again", delay=delay)
        why = (
            "not retried: its kind is not safe to run again"
            if not kind.retry_safe
            else f"gave up after {job.attempts} attempts"
        )
        return Outcome("failed", error=f"{what}; {why}")
    if isinstance(exc, RetryLater):
        if attempts_left:
            return Outcome("retry", error=exc.message, delay=delay)
        return Outcome("failed", error=f"{exc.message}; gave up after {job.attempts} attempts")
    if isinstance(exc, FleetError):
        return Outcome("failed", error=exc.message)
    log.error("job_crashed", job_id=job.id, kind=job.kind, exc_info=exc)
    return Outcome(
        "failed",
        error=f"internal error ({type(exc).__name__}); the worker's log has the details",
    )
