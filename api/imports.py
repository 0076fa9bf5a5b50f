"""Delivery imports over HTTP: upload (preview or commit), commit later, the report, the
row issues and the rejected rows as a CSV ready to correct and upload again.

The upload is streamed to a temporary file as it arrives (never held in memory) and the
size limit (``FLEETSVC_MAX_UPLOAD_MB``) is enforced on the bytes received, so a too-large
upload is refused with 413 as soon as it passes the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Annotated, Any, Final

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Stream
from multipart import (  # type: ignore[import-untyped]
    MultipartError,
    MultipartSegment,
    PushMultipartParser,
)

from api.dependencies import ActorDep, PageDep
from api.guards import IMPORTS, READ_REGISTER
from api.schemas import PageOf, page_of
from api.vocabulary import enum_of
from db.engine import connection
from fleetsvc.errors import BadRequest, FieldProblem, TooLarge, ValidationFailed
from fleetsvc.imports import queries, run
from fleetsvc.imports.queries import ImportRowIssue
from fleetsvc.imports.summary import DeliveryImport
from fleetsvc.settings import get_settings
from fleetsvc.vocabulary import ImportMode, ImportRowStatus, ImportStatus

FORM_FIELD_MAX: Final = 1024
WRITE_CHUNK: Final = 1 << 20
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")

StatusFilter = Annotated[str | None, QueryParameter(schema_extra=enum_of(ImportStatus))]
RowStatusFilter = Annotated[str | None, QueryParameter(schema_extra=enum_of(ImportRowStatus))]


class CommitRequest(msgspec.Struct, forbid_unknown_fields=True):
    allow_partial: bool = False


# --- the upload -----------------------------------------------------------------------------


class Upload:
    """A multipart upload: the file spooled to disk, the other fields as short text."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.file_name = ""
        self.fields: dict[str, str] = {}
        self._file: IO[bytes] | None = None
        self._segment: MultipartSegment | None = None
        self._text = bytearray()
        self._pending: list[bytes] = []

    async def receive(self, request: Request[Any, Any, Any], limit: int) -> None:
        content_type, options = request.content_type
        boundary = options.get("boundary", "")
        if content_type != "multipart/form-data" or not boundary:
            raise BadRequest("send the file as multipart/form-data with a 'file' part")
        announced = request.headers.get("content-length")
        if announced and announced.isascii() and announced.isdigit() and int(announced) > limit:
            raise _too_large(limit)
        received = 0
        try:
            with PushMultipartParser(boundary, max_segment_count=16) as parser:
                async for chunk in request.stream():
                    received += len(chunk)
                    if received > limit:
                        raise _too_large(limit)
                    for event in parser.parse(chunk):
                        await self._event(event)
                    if parser.closed:
                        break
        except MultipartError as exc:
            raise BadRequest(f"the multipart/form-data body cannot be read: {exc}") from None
        await self._write()
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
            self._file = None

    async def _event(self, event: MultipartSegment | bytes | bytearray | None) -> None:
        """One parser event: a part starts (its headers), a piece of its body, or it ends."""
        if isinstance(event, MultipartSegment):
            self._segment = event
            if event.name == "file":
                await self._open(event.filename or "upload")
            return
        segment = self._segment
        if segment is None:
            return
        if event:
            if segment.name == "file":
                self._pending.append(bytes(event))
                if sum(map(len, self._pending)) >= WRITE_CHUNK:
                    await self._write()
            else:
                self._text.extend(event)
                if len(self._text) > FORM_FIELD_MAX:
                    raise BadRequest(f"the form field {segment.name!r} is too long")
            return
        if segment.name and segment.name != "file" and segment.filename is None:
            self.fields[segment.name] = self._text.decode("utf-8", "replace")
        self._text.clear()
        self._segment = None

    async def _open(self, filename: str) -> None:
        if self._file is not None:
            raise BadRequest("send exactly one file")
        name = PurePosixPath(filename.replace("\\", "/")).name
        self.file_name = _UNSAFE_NAME.sub("", name)[:255] or "upload"
        fd, path = await asyncio.to_thread(tempfile.mkstemp, prefix="fleetsvc-import-")
        self.path = Path(path)
        self._file = await asyncio.to_thread(os.fdopen, fd, "wb")

    async def _write(self) -> None:
        if self._pending and self._file is not None:
            data = b"".join(self._pending)
            self._pending.clear()
            await asyncio.to_thread(self._file.write, data)

    async def discard(self) -> None:
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
        if self.path is not None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self.path.unlink)


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"the upload is larger than the {limit // (1024 * 1024)} MiB limit")


def _flag(value: str | None, name: str) -> bool:
    if value is None or value.strip() == "":
        return False
    text = value.strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValidationFailed.one(name, f"{name} must be true or false")


@dataclass
class MultipartUpload(Operation):
    """The upload handler reads its multipart body itself; this documents the form."""

    def __post_init__(self) -> None:
        text = Schema(type=OpenAPIType.STRING)
        form = Schema(
            type=OpenAPIType.OBJECT,
            required=["file", "profile"],
            properties={
                "file": Schema(
                    type=OpenAPIType.STRING,
                    content_media_type="application/octet-stream",
                    description="the supplier's CSV or XLSX file",
                ),
                "profile": Schema(
                    type=OpenAPIType.STRING,
                    description="import profile, like vodafone-despatch or cdw-asn",
                ),
                "mode": Schema(type=OpenAPIType.STRING, enum=[str(m) for m in ImportMode]),
                "allow_partial": Schema(
                    one_of=[Schema(type=OpenAPIType.BOOLEAN), text],
                    description="true or false (also 1/0, yes/no, on/off)",
                ),
                "location": Schema(
                    type=OpenAPIType.STRING,
                    description="the code of the location a delivery's devices arrive at"
                    " (default: FLEETSVC_DEFAULT_LOCATION)",
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
    )
    async def upload(
        self, request: Request[Any, Any, Any], actor: ActorDep
    ) -> Response[DeliveryImport]:
        settings = get_settings()
        upload = Upload()
        try:
            await upload.receive(request, settings.max_upload_bytes)
            problems = []
            if upload.path is None:
                problems.append(FieldProblem("file", "a file is required"))
            if not upload.fields.get("profile", "").strip():
                problems.append(FieldProblem("profile", "a profile is required"))
            if problems:
                raise ValidationFailed(problems)
            assert upload.path is not None
            item = await run.run_import(
                actor,
                path=upload.path,
                file_name=upload.file_name,
                profile_name=upload.fields["profile"].strip(),
                mode=(upload.fields.get("mode") or "preview").strip().lower(),
                allow_partial=_flag(upload.fields.get("allow_partial"), "allow_partial"),
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
    )
    async def commit(
        self,
        import_id: FromPath[int],
        actor: ActorDep,
        data: JSONBody[CommitRequest | None] = None,
        allow_partial: FromQuery[bool | None] = None,
    ) -> DeliveryImport:
        partial = bool(allow_partial) or bool(data and data.allow_partial)
        return await run.commit_import(actor, import_id, allow_partial=partial)


CONTROLLERS: list[type[Controller]] = [ImportController]
