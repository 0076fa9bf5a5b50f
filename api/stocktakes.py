"""Stocktakes over HTTP: open one for a location, send it scanned codes in batches (each
answered at once, with the running counts), read its result, close it (making the moves
chosen), and download the result as CSV or XLSX.

Stores staff and admins count; every role that reads the register reads the results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.dependencies import ActorDep, PageDep
from api.guards import READ_REGISTER, STORES
from api.schemas import PageOf, page_of
from api.vocabulary import enum_of
from db.engine import connection, transaction
from fleetsvc.errors import ValidationFailed
from fleetsvc.pagination import MAX_LIMIT
from fleetsvc.spreadsheets import XLSX_MEDIA_TYPE
from fleetsvc.stocktakes import close, report, scans, service
from fleetsvc.stocktakes.documents import (
    ScanBatch,
    ScanResult,
    Stocktake,
    StocktakeClose,
    StocktakeOpen,
    StocktakeReport,
)
from fleetsvc.vocabulary import StocktakeStatus

Lines = Annotated[
    int | None,
    QueryParameter(
        description="lines shown per section, 1–1000 (default 100); the report has them all",
        schema_extra={"minimum": 1, "maximum": MAX_LIMIT},
    ),
]
ReportFormat = Annotated[
    str | None,
    QueryParameter(
        name="format",
        description="csv (default) or xlsx",
        schema_extra={"enum": list(report.REPORT_FORMATS)},
    ),
]


def _lines(limit: int | None) -> int:
    if limit is None:
        return service.DEFAULT_LINES
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed.one("limit", f"limit must be from 1 to {MAX_LIMIT}")
    return limit


@dataclass
class ReportFiles(Operation):
    """The report answers CSV or XLSX: both documented."""

    def __post_init__(self) -> None:
        self.responses = self.responses or {}
        self.responses["200"] = OpenAPIResponse(
            description="The whole result: one row per line (CSV), or a sheet per section",
            content={
                "text/csv": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)),
                XLSX_MEDIA_TYPE: OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.STRING, content_media_type=XLSX_MEDIA_TYPE)
                ),
            },
        )


class StocktakeController(Controller):
    path = "/stocktakes"
    tags = ["stocktakes"]

    @get("/", operation_id="listStocktakes", opt=READ_REGISTER)
    async def list_stocktakes(
        self,
        page: PageDep,
        status: Annotated[str | None, QueryParameter(schema_extra=enum_of(StocktakeStatus))] = None,
        location: FromQuery[str | None] = None,
    ) -> PageOf[Stocktake]:
        """Newest first."""
        async with connection() as conn:
            found = await service.list_stocktakes(conn, page, status=status, location=location)
        return page_of(found)

    @post("/", operation_id="openStocktake", opt=STORES)
    async def open(
        self, data: JSONBody[StocktakeOpen], actor: ActorDep
    ) -> Response[StocktakeReport]:
        async with transaction() as conn:
            opened = await service.open_stocktake(conn, actor, data)
        return Response(
            opened, status_code=201, headers={"Location": f"/api/v1/stocktakes/{opened.id}"}
        )

    @get("/{stocktake_id:int}", operation_id="getStocktake", opt=READ_REGISTER)
    async def get_one(self, stocktake_id: FromPath[int], limit: Lines = None) -> StocktakeReport:
        async with connection() as conn:
            return await service.get_stocktake(conn, stocktake_id, limit=_lines(limit))

    @post(
        "/{stocktake_id:int}/scans", operation_id="scanIntoStocktake", opt=STORES, status_code=200
    )
    async def scan(
        self, stocktake_id: FromPath[int], data: JSONBody[ScanBatch], actor: ActorDep
    ) -> ScanResult:
        """1 to 1,000 codes as the scanner typed them (serial, IMEI, asset tag or ICCID)."""
        async with transaction() as conn:
            return await scans.record_scans(conn, actor, stocktake_id, data)

    @post("/{stocktake_id:int}/close", operation_id="closeStocktake", opt=STORES, status_code=200)
    async def close_one(
        self, stocktake_id: FromPath[int], data: JSONBody[StocktakeClose], actor: ActorDep
    ) -> StocktakeReport:
        async with transaction() as conn:
            return await close.close_stocktake(conn, actor, stocktake_id, data)

    @get(
        "/{stocktake_id:int}/report",
        operation_id="getStocktakeReport",
        opt=READ_REGISTER,
        operation_class=ReportFiles,
        media_type="text/csv",
    )
    async def download(
        self, stocktake_id: FromPath[int], fmt: ReportFormat = None
    ) -> Response[bytes]:
        async with connection() as conn:
            export = await report.stocktake_export(conn, stocktake_id)
        out = report.report_file(export, fmt)
        return Response(
            content=out.body,
            headers={
                "Content-Type": out.media_type,
                "Content-Disposition": f"attachment; filename={out.filename}",
            },
        )


CONTROLLERS: list[type[Controller]] = [StocktakeController]
