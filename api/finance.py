"""Refresh and recurring-cost forecasts over HTTP: JSON, CSV or XLSX."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import QueryParameter

from api.guards import FINANCE
from api.vocabulary import enum_of
from db.engine import connection
from fleetsvc.finance.fiscal import FY_PATTERN
from fleetsvc.finance.forecast import MAX_YEARS, ForecastParams, forecast_params, output_format
from fleetsvc.finance.recurring import RecurringForecast, recurring_forecast
from fleetsvc.finance.refresh import RefreshForecast, refresh_forecast
from fleetsvc.finance.render import render
from fleetsvc.spreadsheets import XLSX_MEDIA_TYPE
from fleetsvc.vocabulary import ForecastGroup, OutputFormat

FromYear = Annotated[
    str | None,
    QueryParameter(
        name="from",
        description="first financial year, like 2025/26 (default: the current one)",
        schema_extra={"pattern": FY_PATTERN},
    ),
]
# The rules are documented only (schema_extra): forecast_params checks them, with its messages.
Years = Annotated[
    str | None,
    QueryParameter(
        description=f"how many years, 1–{MAX_YEARS} (default 5)",
        schema_extra={"pattern": f"^0*(?:[1-9]|1[0-9]|{MAX_YEARS})$"},
    ),
]
GroupBy = Annotated[
    str | None,
    QueryParameter(
        description="model (default), category, contract or business_unit",
        schema_extra=enum_of(ForecastGroup),
    ),
]
Format = Annotated[
    str | None,
    QueryParameter(
        name="format",
        description="json (default), csv or xlsx; Accept: text/csv also gives CSV",
        schema_extra=enum_of(OutputFormat),
    ),
]


@dataclass
class ForecastFiles(Operation):
    """A forecast answers JSON, or CSV or XLSX (``format=``, ``Accept``): all three documented."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse) and ok.content is not None:
            ok.content["text/csv"] = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))
            ok.content[XLSX_MEDIA_TYPE] = OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.STRING, content_media_type=XLSX_MEDIA_TYPE)
            )


def _file_response(
    kind: Literal["refresh", "recurring"],
    report: RefreshForecast | RecurringForecast,
    params: ForecastParams,
    fmt: str,
) -> Response[Any]:
    out = render(kind, report, params, fmt)
    # The type goes as a header: given as media_type, a text/* type that already names its
    # charset gets a second "; charset=utf-8" appended.
    return Response(
        content=out.body,
        headers={
            "Content-Type": out.media_type,
            "Content-Disposition": f"attachment; filename={out.filename}",
        },
    )


class ForecastController(Controller):
    path = "/forecasts"
    tags = ["forecasts"]

    @get(
        "/refresh",
        operation_id="getRefreshForecast",
        opt=FINANCE,
        operation_class=ForecastFiles,
    )
    async def refresh(
        self,
        request: Request[Any, Any, Any],
        from_year: FromYear = None,
        years: Years = None,
        group_by: GroupBy = None,
        fmt: Format = None,
    ) -> Response[RefreshForecast]:
        """Devices falling due for refresh and their replacement cost, per financial year."""
        params = forecast_params(from_year, years, group_by)
        chosen = output_format(fmt, request.headers.get("accept"))
        async with connection() as conn:
            report = await refresh_forecast(conn, params)
        if chosen == "json":
            return Response(report)
        return _file_response("refresh", report, params, chosen)

    @get(
        "/recurring",
        operation_id="getRecurringForecast",
        opt=FINANCE,
        operation_class=ForecastFiles,
    )
    async def recurring(
        self,
        request: Request[Any, Any, Any],
        from_year: FromYear = None,
        years: Years = None,
        fmt: Format = None,
    ) -> Response[RecurringForecast]:
        """Recurring airtime, licence and support charges per financial year."""
        params = forecast_params(from_year, years)
        chosen = output_format(fmt, request.headers.get("accept"))
        async with connection() as conn:
            report = await recurring_forecast(conn, params)
        if chosen == "json":
            return Response(report)
        return _file_response("recurring", report, params, chosen)


CONTROLLERS: list[type[Controller]] = [ForecastController]
