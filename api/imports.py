"""Delivery imports over HTTP: upload (preview or commit), commit later, the report, the
row issues and the rejected rows as a CSV ready to correct and upload again.

The upload is streamed to a temporary file as it arrives (``fleetsvc.imports.upload``: never
held in memory), and a too-large upload is refused with 413 as soon as it passes the limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from litestar.response import Stream

from api.dependencies import ActorDep, PageDep
from api.guards import IMPORTS, READ_REGISTER
from api.schemas import PageOf, page_of
from api.vocabulary import enum_of
from db.engine import connection
from fleetsvc.checks import SPACE
from fleetsvc.errors import FieldProblem, ValidationFailed
from fleetsvc.imports import commit_jobs, queries, run
from fleetsvc.imports.profiles import delivery_profiles
from fleetsvc.imports.queries import ImportRowIssue
from fleetsvc.imports.summary import DeliveryImport
from fleetsvc.imports.upload import Upload
from fleetsvc.settings import get_settings
from fleetsvc.vocabulary import ImportMode, ImportRowStatus, ImportStatus

StatusFilter = Annotated[str | None, QueryParameter(schema_extra=enum_of(ImportStatus))]
RowStatusFilter = Annotated[str | None, QueryParameter(schema_extra=enum_of(ImportRowStatus))]


PreferHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Prefer",
        description="respond-async (RFC 7240): answer 202 at once, without waiting for the commit",
        required=False,
    ),
]
STILL_RUNNING = ResponseSpec(
    DeliveryImport,
    description="The commit runs on as a job (asked with Prefer: respond-async, or it took"
    " longer than FLEETSVC_IMPORT_WAIT_SECONDS): Location is the import, whose status, counts"
    ".rows so far and phase show its progress; GET it until it is no longer running",
)


class CommitRequest(msgspec.Struct, forbid_unknown_fields=True):
    allow_partial: bool = False


def _flag(value: str | None, name: str) -> bool:
    if value is None or value.strip() == "":
        return False
    text = value.strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValidationFailed.one(name, f"{name} must be true or false")


def _profile_dirs() -> list[Path]:
    profiles_dir = get_settings().profiles_dir
    return [profiles_dir] if profiles_dir else []


@dataclass
class MultipartUpload(Operation):
    """The upload handler reads its multipart body itself; this documents the form."""

    def __post_init__(self) -> None:
        text = Schema(type=OpenAPIType.STRING)
        profiles = delivery_profiles(_profile_dirs())
        form = Schema(
            type=OpenAPIType.OBJECT,
            required=["file", "profile"],
            # Only a delivery brings devices to a store: another profile takes no location
            # (blank is none), as fleetsvc.imports.run refuses.
            any_of=[
                Schema(
                    properties={
                        "profile": Schema(enum=[p.name for p in profiles if p.kind == "delivery"])
                    }
                ),
                Schema(properties={"location": Schema(pattern=f"^{SPACE}*$")}),
            ],
            properties={
                "file": Schema(
                    type=OpenAPIType.STRING,
                    min_length=1,  # an empty file is refused
                    content_media_type="application/octet-stream",
                    description="the supplier's CSV or XLSX file",
                ),
                "profile": Schema(
                    type=OpenAPIType.STRING,
                    description="import profile, like vodafone-despatch or cdw-asn",
                    enum=[p.name for p in profiles],
                ),
                "mode": Schema(type=OpenAPIType.STRING, enum=[str(m) for m in ImportMode]),
                "allow_partial": Schema(
                    one_of=[Schema(type=OpenAPIType.BOOLEAN), text],
                    description="true or false (also 1/0, yes/no, on/off)",
                ),
                "location": Schema(
                    type=OpenAPIType.STRING,
                    description="the code of the location a delivery's devices arrive at"
                    " (default: FLEETSVC_DEFAULT_LOCATION); another profile takes none",
                ),
            },
        )
        self.request_body = RequestBody(
            content={"multipart/form-data": OpenAPIMediaType(schema=form)}, required=True
        )


@dataclass
class OptionalBody(Operation):
    """Litestar documents every request body as required; the commit's is optional."""

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            self.request_body.required = False


class ImportController(Controller):
    path = "/imports"
    tags = ["delivery imports"]

    @post(
        "/",
        operation_id="uploadImport",
        opt=IMPORTS,
        request_max_body_size=None,  # the upload limit is enforced while streaming
        operation_class=MultipartUpload,
        summary="Upload a supplier delivery file"
        " (multipart: file, profile, mode, allow_partial, location)",
        responses={202: STILL_RUNNING},
    )
    async def upload(
        self, request: Request[Any, Any, Any], actor: ActorDep, prefer: PreferHeader = None
    ) -> Response[DeliveryImport]:
        settings = get_settings()
        upload = Upload()
        try:
            content_type, options = request.content_type
            await upload.receive(
                request.stream(),
                content_type=content_type,
                boundary=options.get("boundary", ""),
                content_length=request.headers.get("content-length"),
                limit=settings.max_upload_bytes,
            )
            problems = []
            if upload.path is None:
                problems.append(FieldProblem("file", "a file is required"))
            if not upload.fields.get("profile", "").strip():
                problems.append(FieldProblem("profile", "a profile is required"))
            if problems:
                raise ValidationFailed(problems)
            assert upload.path is not None
            mode = (upload.fields.get("mode") or "preview").strip().lower()
            partial = _flag(upload.fields.get("allow_partial"), "allow_partial")
            if mode == ImportMode.COMMIT:
                started = await commit_jobs.start_upload(
                    actor,
                    path=upload.path,
                    file_name=upload.file_name,
                    profile_name=upload.fields["profile"].strip(),
                    allow_partial=partial,
                    extra_profile_dirs=(settings.profiles_dir,) if settings.profiles_dir else (),
                    location=upload.fields.get("location"),
                    digest=upload.digest,
                )
                if started.job_id is not None:
                    upload.hand_over()  # the job removes the file when it ends
                return await _answer(started, prefer, status_code=201)
            item = await run.run_import(
                actor,
                path=upload.path,
                file_name=upload.file_name,
                profile_name=upload.fields["profile"].strip(),
                mode=mode,
                allow_partial=partial,
                extra_profile_dirs=[settings.profiles_dir] if settings.profiles_dir else [],
                location=upload.fields.get("location"),
            )
        finally:
            await upload.discard()
        return Response(item, status_code=201, headers={"Location": f"/api/v1/imports/{item.id}"})

    @get("/", operation_id="listImports", opt=READ_REGISTER)
    async def list_imports(
        self,
        page: PageDep,
        status: StatusFilter = None,
        profile: FromQuery[str | None] = None,
        sha256: FromQuery[str | None] = None,
    ) -> PageOf[DeliveryImport]:
        async with connection() as conn:
            found = await queries.list_imports(
                conn, page, status=status, profile=profile, sha256=sha256
            )
        return page_of(found)

    @get("/{import_id:int}", operation_id="getImport", opt=READ_REGISTER)
    async def get_one(self, import_id: FromPath[int]) -> DeliveryImport:
        async with connection() as conn:
            return await queries.get_import(conn, import_id)

    @get("/{import_id:int}/rows", operation_id="listImportRows", opt=READ_REGISTER)
    async def rows(
        self, import_id: FromPath[int], page: PageDep, status: RowStatusFilter = None
    ) -> PageOf[ImportRowIssue]:
        async with connection() as conn:
            found = await queries.list_issues(conn, import_id, page, status=status)
        return page_of(found)

    @get(
        "/{import_id:int}/rejected.csv",
        operation_id="getImportRejectedRows",
        opt=READ_REGISTER,
        media_type="text/csv",
    )
    async def rejected(self, import_id: FromPath[int]) -> Stream:
        async with connection() as conn:
            await queries.get_import(conn, import_id)  # 404 before streaming starts

        async def body() -> AsyncIterator[bytes]:
            async for text in queries.rejected_csv(import_id):
                yield text.encode()

        return Stream(
            body(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="rejected-{import_id}.csv"'},
        )

    @post(
        "/{import_id:int}/commit",
        operation_id="commitImport",
        opt=IMPORTS,
        status_code=200,
        operation_class=OptionalBody,
        responses={202: STILL_RUNNING},
    )
    async def commit(
        self,
        import_id: FromPath[int],
        actor: ActorDep,
        data: JSONBody[CommitRequest | None] = None,
        allow_partial: FromQuery[bool | None] = None,
        prefer: PreferHeader = None,
    ) -> Response[DeliveryImport]:
        """Commit a previewed import as a job; answered when it ends, or 202 (see upload)."""
        partial = bool(allow_partial) or bool(data and data.allow_partial)
        started = await commit_jobs.start_commit(actor, import_id, allow_partial=partial)
        return await _answer(started, prefer, status_code=200)


def _respond_async(prefer: str | None) -> bool:
    """Whether ``Prefer`` (RFC 7240: comma-separated, each maybe with parameters) asks for
    an answer at once."""
    if not prefer:
        return False
    return any(p.split(";")[0].strip().lower() == "respond-async" for p in prefer.split(","))


async def _answer(
    started: commit_jobs.Started, prefer: str | None, *, status_code: int
) -> Response[DeliveryImport]:
    """The import as today once its commit job has ended (waiting up to
    FLEETSVC_IMPORT_WAIT_SECONDS, none with ``Prefer: respond-async``); else 202 with its
    Location, where its status, rows read so far and phase show."""
    at_once = _respond_async(prefer)
    wait = 0.0 if at_once else get_settings().import_wait_seconds
    location = {"Location": f"/api/v1/imports/{started.import_id}"}
    item = await commit_jobs.finished(started, wait)
    if item is not None:
        return Response(
            item, status_code=status_code, headers=location if status_code == 201 else {}
        )
    async with connection() as conn:
        item = await queries.get_import(conn, started.import_id)
    headers = {**location, "Retry-After": "2"}
    if at_once:
        headers["Preference-Applied"] = "respond-async"
    return Response(item, status_code=202, headers=headers)


CONTROLLERS: list[type[Controller]] = [ImportController]
