"""What a job can be: the registry of job kinds, and what a kind's code is given.

A module adds its kinds with ``register(JobKind(...))`` when it is imported;
``load_kinds`` imports the service's own (``fleetsvc.jobs.tasks``) and the modules named
in ``FLEETSVC_JOB_PLUGINS`` (tests use that for kinds that must never exist in production).

A kind is its payload type (a msgspec Struct, checked when the job is queued and again
when it runs), the coroutine that does the work, and its rules: how many attempts, whether
running it again after a lost worker or database is safe, who may see its jobs, and a
hook run when a job of the kind is taken back unfinished.
"""

from __future__ import annotations

import datetime as dt
import importlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, Literal, TypeVar

import asyncpg
import msgspec

from fleetsvc.auth import Actor
from fleetsvc.errors import FleetError
from fleetsvc.settings import Settings
from fleetsvc.vocabulary import Role


class JobStatus:
    QUEUED: Final = "queued"
    RUNNING: Final = "running"
    SUCCEEDED: Final = "succeeded"
    FAILED: Final = "failed"
    CANCELLED: Final = "cancelled"

    ALL: Final = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
    FINISHED: Final = (SUCCEEDED, FAILED, CANCELLED)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One row of the job table, as the worker and the API see it."""

    id: int
    kind: str
    payload: Mapping[str, object]
    status: str
    attempts: int
    max_attempts: int
    run_after: dt.datetime
    queued_by: str
    queued_role: str
    request_id: str | None
    progress: Mapping[str, object]
    error: str | None
    result: Mapping[str, object] | None
    unique_key: str | None
    lease_owner: str | None
    lease_expires_at: dt.datetime | None
    cancel_requested_at: dt.datetime | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    backend_pid: int | None = None
    backend_seen_at: dt.datetime | None = None

    @property
    def actor(self) -> Actor:
        """Who the job's work is done for: the one who queued it (the audit trail says so)."""
        return Actor(self.queued_by, self.queued_role, self.request_id)


class JobCancelled(Exception):
    """Raised at a check when someone asked the job to stop; the job ends ``cancelled``."""


class LeaseLost(Exception):
    """Raised at a check when this worker no longer holds the job's lease: another worker
    may have taken it over, so this one must not write anything more for it."""


class RetryLater(FleetError):
    """Raised by a kind for a failure worth another attempt later (a service that is down)."""


@dataclass(frozen=True, slots=True)
class Interruption:
    """Why a job came back unfinished: its worker stopped renewing the lease (``expired``:
    killed, frozen, cut off from the database), or its worker was stopping and let it go
    (``released``)."""

    reason: Literal["expired", "released"]
    owner: str | None
    message: str


@dataclass(frozen=True, slots=True)
class Recovery:
    """A kind's answer to an interruption: queue the job again, or end it ``failed``."""

    retry: bool
    message: str


class JobContext:
    """What a running job's code is given: the job, checks, and a way to report progress.

    The worker keeps the flags up to date (from its heartbeats); ``check`` raises when the
    job should stop. Every transaction the job opens through ``db.engine.transaction`` is
    checked too, inside that transaction, so a kind that works in transactions stops at the
    next one without calling ``check`` itself.
    """

    def __init__(
        self,
        job: JobRecord,
        report: Callable[[Mapping[str, object]], Awaitable[None]],
        deadline: float,
        settings: Settings,
    ) -> None:
        self.job = job
        self.settings = settings
        self._report = report
        self.deadline = deadline  # time.monotonic() after which the lease may have lapsed
        self.cancel_requested = job.cancel_requested_at is not None
        self.lost = False

    @property
    def actor(self) -> Actor:
        return self.job.actor

    @property
    def attempt(self) -> int:
        return self.job.attempts

    def check(self) -> None:
        """Stop here if the job was cancelled or this worker's lease may have lapsed."""
        if self.lost or time.monotonic() > self.deadline:
            self.lost = True
            raise LeaseLost(f"job {self.job.id}: this worker no longer holds its lease")
        if self.cancel_requested:
            raise JobCancelled(f"job {self.job.id} was cancelled")

    async def progress(self, phase: str | None = None, **counts: int) -> None:
        """Record how far the job has got: shown by ``GET /api/v1/jobs/{id}``."""
        self.check()
        await self._report({"phase": phase, "counts": counts})


P = TypeVar("P", bound=msgspec.Struct)
Result = Mapping[str, object] | None
RecoverHook = Callable[[asyncpg.Connection, JobRecord, Interruption], Awaitable[Recovery | None]]


@dataclass(frozen=True, slots=True)
class JobKind(Generic[P]):
    name: str
    payload: type[P]
    run: Callable[[JobContext, P], Awaitable[Result]]
    description: str
    # Who may see (and cancel) jobs of this kind, besides admin, the auditor (who reads
    # everything) and the role that queued the job.
    roles: frozenset[str] = frozenset()
    max_attempts: int = 3
    # True when running the job again after its worker or database was lost cannot apply
    # its work twice (it is idempotent, or each attempt is all or nothing).
    retry_safe: bool = True
    # A statement_timeout (seconds) for each transaction the job's work opens.
    statement_timeout: float | None = None
    # Called, in the transaction that settles the job, when a job of this kind is taken
    # back after its lease expired or released by a stopping worker; it may clean up what
    # the interrupted attempt left (and say whether to retry). None: retry when safe.
    recover: RecoverHook | None = None


_KINDS: dict[str, JobKind[Any]] = {}


def register(kind: JobKind[P]) -> JobKind[P]:
    if kind.name in _KINDS and _KINDS[kind.name] is not kind:
        raise ValueError(f"job kind {kind.name!r} is registered twice")
    _KINDS[kind.name] = kind
    return kind


def get(name: str) -> JobKind[Any] | None:
    return _KINDS.get(name)


def names() -> list[str]:
    return sorted(_KINDS)


def kinds_readable_by(role: str) -> list[str]:
    return sorted(name for name, kind in _KINDS.items() if role in kind.roles)


def may_see(role: str, job: JobRecord) -> bool:
    if role in (Role.ADMIN, Role.AUDITOR) or role == job.queued_role:
        return True
    kind = _KINDS.get(job.kind)
    return kind is not None and role in kind.roles


def may_cancel(role: str, job: JobRecord) -> bool:
    return role != Role.AUDITOR and may_see(role, job)


class PluginError(Exception):
    """A module named in FLEETSVC_JOB_PLUGINS cannot be imported; the message is one line."""


BUILTIN_MODULES: Final = ("fleetsvc.jobs.tasks", "fleetsvc.imports.commit_jobs")


def load_kinds(plugins: Sequence[str] = ()) -> list[str]:
    """Import the modules that register kinds (the service's own, then the plugins)."""
    for module in (*BUILTIN_MODULES, *plugins):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise PluginError(
                f"FLEETSVC_JOB_PLUGINS: cannot import {module!r} ({exc.msg})"
            ) from None
    return names()
