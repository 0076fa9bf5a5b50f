"""The delivery-import pages (stores): choose a profile and a file → the preview (counts,
purchase-order lines, conflicts with the fields that differ, rejected rows, warnings) →
commit (all, or the valid rows) → the result, with ``rejected.csv``; and the past imports.

The handlers are thin over ``fleetsvc.imports`` (``run_import``, ``commit_import``,
``queries``), as the API's are. The upload is streamed to disk as it arrives
(``fleetsvc.imports.upload``), so its form token is checked from the fields received
(``web.csrf.check_token``). An import still being read or applied shows its progress, read
from the import itself (``progress_of``), which a little script polls (``/progress``);
without the script the page has a refresh link, and it can be left and come back to.

A commit is a job (``commit_jobs``): the click waits a few seconds for it, then shows the
import's page, whose progress view follows the job's phase. A second "commit" commits once:
it answers with the job already queued or running for the import, and the job itself
(``commit_staged``) locks the import and commits only one that is not committed yet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Final

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Stream, Template

from db.engine import connection, transaction
from fleetsvc import sessions, users
from fleetsvc.errors import (
    BadRequest,
    Conflict,
    FieldProblem,
    TooLarge,
    Unavailable,
    ValidationFailed,
)
from fleetsvc.imports import commit_jobs, queries, run
from fleetsvc.imports.profiles import delivery_profiles
from fleetsvc.imports.summary import DeliveryImport
from fleetsvc.imports.upload import Upload
from fleetsvc.pagination import PageRequest, decode_cursor
from fleetsvc.sessions import Flash
from fleetsvc.settings import get_settings
from fleetsvc.vocabulary import HeldBackOutcome, ImportStatus
from web.csrf import FIELD, STREAMED_FORM, check_token
from web.forms import actor, form_values
from web.guards import IMPORTS, READ_REGISTER, signed_in
from web.listing import PAGE_SIZE, page_links
from web.render import page

Text = Annotated[str | None, QueryParameter(max_length=64)]
# How often the progress view asks again, in milliseconds (the page's script reads it).
POLL_MS: Final = 1500
# How long a commit click waits for its job before showing the page with its progress.
COMMIT_WAIT_SECONDS: Final = 5.0
# What a page still being worked on is (with job-run commits: a commit queued or running).
IN_PROGRESS: Final = frozenset({ImportStatus.RUNNING})


class ImportProgress(msgspec.Struct):
    """What the progress view shows of an import, and whether to ask again."""

    id: int
    status: str
    in_progress: bool
    rows: int
    text: str


def progress_of(item: DeliveryImport) -> ImportProgress:
    rows = item.counts.get("rows", 0)
    # A commit job queued or running has a phase; the import may still say "previewed".
    busy = item.status in IN_PROGRESS or item.phase is not None
    if not busy:
        text = f"{item.status.capitalize()}: {rows:,} rows."
    elif item.phase in _COMMIT_PHASES:
        text = f"Committing {rows:,} rows: {_COMMIT_PHASES[item.phase]}."
    else:
        text = f"{rows:,} rows read so far; the checks run once the whole file is read."
    return ImportProgress(item.id, item.status, busy, rows, text)


_COMMIT_PHASES: Final = {
    "queued": "waiting to start",
    "running": "starting",
    "classifying": "checking each row against the register",
    "reporting": "writing the report",
    "applying": "writing the new rows into the register",
}


def _profiles() -> list[Any]:
    settings = get_settings()
    return delivery_profiles([settings.profiles_dir] if settings.profiles_dir else [])


def _upload_problem(exc: Exception) -> tuple[int, dict[str, str]]:
    """An upload refused: its status and the message beside the field it is about."""
    if isinstance(exc, TooLarge):
        limit = get_settings().max_upload_bytes // (1024 * 1024)
        return 413, {
            "file": f"the file is larger than the {limit} MiB this service accepts; "
            "split it into smaller files and upload each"
        }
    if isinstance(exc, ValidationFailed):
        out: dict[str, str] = {}
        for p in exc.problems:
            out.setdefault(p.field if p.field in ("file", "profile") else "file", p.message)
        return 422, out
    return 400, {"file": str(exc)}


class Imports(Controller):
    path = "/imports"
    opt = READ_REGISTER

    async def _list(
        self,
        request: Request[Any, Any, Any],
        *,
        status: str | None = None,
        cursor: str | None = None,
        code: int = 200,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> Template:
        wanted = status if status and ImportStatus.has(status) else None
        async with connection() as conn:
            found = await queries.recent_imports(
                conn,
                PageRequest(PAGE_SIZE, decode_cursor(cursor) if cursor else None),
                status=wanted,
            )
            who = await users.emails_of(conn, (i.created_by for i in found.items))
        return page(
            request,
            "imports.html",
            status=code,
            found=found,
            who=who,
            links=page_links("/imports", {"status": wanted}, found, cursor),
            filters={"status": wanted},
            statuses=tuple(ImportStatus),
            profiles=_profiles(),
            max_upload_bytes=get_settings().max_upload_bytes,
            errors=errors or {},
            values=values or {},
        )

    @get("/", name="imports")
    async def list_imports(
        self, request: Request[Any, Any, Any], status: Text = None, cursor: Text = None
    ) -> Template:
        return await self._list(request, status=status, cursor=cursor)

    @post(
        "/",
        name="imports-upload",
        opt={**IMPORTS, STREAMED_FORM: True},
        request_max_body_size=None,  # the upload limit is enforced while it streams
        status_code=303,
    )
    async def upload(self, request: Request[Any, Any, Any]) -> Redirect | Template:
        upload = Upload()
        settings = get_settings()
        try:
            content_type, options = request.content_type
            await upload.receive(
                request.stream(),
                content_type=content_type,
                boundary=options.get("boundary", ""),
                content_length=request.headers.get("content-length"),
                limit=settings.max_upload_bytes,
            )
            check_token(request, upload.fields.get(FIELD))
            profile = upload.fields.get("profile", "").strip()
            problems = []
            if upload.path is None:
                problems.append(FieldProblem("file", "choose the supplier's file"))
            elif upload.size == 0:
                problems.append(FieldProblem("file", "that file is empty: choose the supplier's"))
            if not profile:
                problems.append(FieldProblem("profile", "choose what kind of file it is"))
            if problems:
                raise ValidationFailed(problems)
            assert upload.path is not None
            item = await run.run_import(
                actor(request),
                path=upload.path,
                file_name=upload.file_name,
                profile_name=profile,
                extra_profile_dirs=[settings.profiles_dir] if settings.profiles_dir else [],
            )
        except (ValidationFailed, BadRequest, TooLarge) as exc:
            code, errors = _upload_problem(exc)
            return await self._list(
                request,
                code=code,
                errors=errors,
                values={"profile": upload.fields.get("profile", "")},
            )
        finally:
            await upload.discard()
        return Redirect(f"/imports/{item.id}", status_code=303)

    @get("/{import_id:int}", name="import")
    async def show(
        self,
        request: Request[Any, Any, Any],
        import_id: FromPath[int],
        rejected: Text = None,
        conflicts: Text = None,
        warnings: Text = None,
    ) -> Template:
        async with connection() as conn:
            item = await queries.get_import(conn, import_id)
            lists = {
                "rejected": await queries.list_issues(
                    conn, import_id, _page(rejected), held_back=HeldBackOutcome.REJECTED
                ),
                "conflicts": await queries.list_issues(
                    conn, import_id, _page(conflicts), held_back=HeldBackOutcome.CONFLICT
                ),
                "warnings": await queries.list_issues(
                    conn, import_id, _page(warnings), status="warning"
                ),
            }
            who = await users.emails_of(conn, [item.created_by, item.committed_by or ""])
        cursors = {"rejected": rejected, "conflicts": conflicts, "warnings": warnings}
        links = {
            name: page_links(f"/imports/{import_id}", {}, found, cursors[name], cursor_name=name)
            for name, found in lists.items()
        }
        return page(
            request,
            "import.html",
            item=item,
            counts=item.tally(),
            lists=lists,
            links=links,
            who=who,
            progress=progress_of(item),
            poll_ms=POLL_MS,
        )

    @get("/{import_id:int}/progress", name="import-progress")
    async def progress(self, import_id: FromPath[int]) -> Response[ImportProgress]:
        """For the page's script: the import's state now (never cached)."""
        async with connection() as conn:
            item = await queries.get_import(conn, import_id)
        return Response(progress_of(item), headers={"Cache-Control": "no-store"})

    @post("/{import_id:int}/commit", name="import-commit", opt=IMPORTS, status_code=303)
    async def commit(self, request: Request[Any, Any, Any], import_id: FromPath[int]) -> Redirect:
        partial = (await form_values(request)).get("allow_partial") == "true"
        me = signed_in(request)
        try:
            # A job: a second click gets the same one; a long commit shows its progress on
            # the import's page, which can be left and come back to.
            started = await commit_jobs.start_commit(
                actor(request), import_id, allow_partial=partial
            )
            item = await commit_jobs.finished(started, COMMIT_WAIT_SECONDS)
            flash = None if item is None else _not_committed(item)
        except (Conflict, Unavailable) as exc:
            flash = Flash("error", f"Not committed: {exc.message}.")
        if flash is not None:
            async with transaction() as conn:
                await sessions.set_flash(conn, me.session_id, flash)
        return Redirect(f"/imports/{import_id}", status_code=303)

    @get("/{import_id:int}/rejected.csv", name="import-rejected")
    async def rejected_csv(self, import_id: FromPath[int]) -> Stream:
        """The rejected and conflicting rows as the file had them, with why: to correct and
        upload again (the API's file)."""
        async with connection() as conn:
            await queries.get_import(conn, import_id)  # a missing import: the 404 page

        async def body() -> AsyncIterator[bytes]:
            async for text in queries.rejected_csv(import_id):
                yield text.encode()

        return Stream(
            body(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="rejected-{import_id}.csv"',
                "Cache-Control": "no-store",
            },
        )


def _page(cursor: str | None) -> PageRequest:
    return PageRequest(PAGE_SIZE, decode_cursor(cursor) if cursor else None)


def _not_committed(item: DeliveryImport) -> Flash | None:
    """A commit that did not commit says why (a committed import's page says it is)."""
    if item.status == ImportStatus.COMMITTED:
        return None
    return Flash("error", f"Not committed: {item.message or item.status}.")


HANDLERS: Final = [Imports]
