"""Subject access over HTTP: everything held about one person, as JSON or XLSX (admin and
auditor only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import FromPath, QueryParameter

from api.dependencies import ActorDep
from api.guards import AUDIT
from db.engine import transaction
from fleetsvc.spreadsheets import XLSX_MEDIA_TYPE
from fleetsvc.subject_access.report import SubjectAccess, subject_access
from fleetsvc.subject_access.workbook import (
    FORMATS,
    filename,
    output_format,
    subject_access_xlsx,
)

Format = Annotated[
    str | None,
    QueryParameter(
        name="format",
        description=f"json (default) or xlsx (one sheet per part); Accept: {XLSX_MEDIA_TYPE}"
        " also gives XLSX",
        schema_extra={"enum": list(FORMATS)},
    ),
]


@dataclass
class JsonOrWorkbook(Operation):
    """The report answers JSON or an XLSX workbook: both documented."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse) and ok.content is not None:
            ok.content[XLSX_MEDIA_TYPE] = OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.STRING, content_media_type=XLSX_MEDIA_TYPE)
            )


def _workbook(report: SubjectAccess) -> Response[Any]:
    return Response(
        content=subject_access_xlsx(report),
        headers={
            "Content-Type": XLSX_MEDIA_TYPE,
            "Content-Disposition": f"attachment; filename={filename(report)}",
            "Cache-Control": "no-store",
        },
    )


class SubjectAccessController(Controller):
    path = "/people"
    tags = ["people"]

    @get(
        "/{person_id:int}/subject-access",
        operation_id="getSubjectAccess",
        opt=AUDIT,
        operation_class=JsonOrWorkbook,
    )
    async def subject_access(
        self,
        request: Request[Any, Any, Any],
        person_id: FromPath[int],
        actor: ActorDep,
        fmt: Format = None,
    ) -> Response[SubjectAccess]:
        """Everything held about a person (UK GDPR Art. 15); the request is recorded."""
        chosen = output_format(fmt, request.headers.get("accept"))
        async with transaction() as conn:
            report = await subject_access(conn, actor, person_id, chosen)
        if chosen == "json":
            return Response(report, headers={"Cache-Control": "no-store"})
        return _workbook(report)


CONTROLLERS: list[type[Controller]] = [SubjectAccessController]
