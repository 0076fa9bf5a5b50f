"""Finance's page: the refresh and recurring-cost forecasts by financial year, as a table and
a bar chart, with the same CSV and XLSX downloads as the API (``fleetsvc.finance.render``).

The parameters are a GET form (nothing personal in them), so a forecast's address can be
kept and shared; a parameter the forecast refuses is shown beside its field.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any, Final

from litestar import Request, Response, get
from litestar.params import QueryParameter
from litestar.response import Template

from db.engine import connection
from fleetsvc.errors import ValidationFailed
from fleetsvc.finance.fiscal import current_fy, fy_label
from fleetsvc.finance.forecast import DEFAULT_YEARS, MAX_YEARS, ForecastParams, forecast_params
from fleetsvc.finance.recurring import RecurringForecast, recurring_forecast
from fleetsvc.finance.refresh import RefreshForecast, refresh_forecast
from fleetsvc.finance.render import render
from fleetsvc.vocabulary import ForecastGroup, OutputFormat
from web.charts import BarChart, Series, bar_chart
from web.guards import FORECASTS
from web.render import field_errors, page

KINDS: Final = {"refresh": "Refresh", "recurring": "Recurring cost"}
# The financial years the form offers around this one (any other given in the address is
# offered too).
YEARS_BEFORE, YEARS_AFTER = 6, 10

Kind = Annotated[str | None, QueryParameter(max_length=20)]
FromYear = Annotated[str | None, QueryParameter(name="from", max_length=20)]
Years = Annotated[str | None, QueryParameter(max_length=10)]
GroupBy = Annotated[str | None, QueryParameter(max_length=30)]
Format = Annotated[str | None, QueryParameter(name="format", max_length=10)]


def _kind(value: str | None) -> str:
    kind = (value or "refresh").strip()
    if kind not in KINDS:
        raise ValidationFailed.one("kind", "the forecast is refresh or recurring")
    return kind


def _params(
    kind: str, from_year: str | None, years: str | None, group_by: str | None
) -> ForecastParams:
    """Blank fields take the forecast's defaults, as the API's absent parameters do."""
    return forecast_params(
        from_year or None, years or None, (group_by or None) if kind == "refresh" else None
    )


async def _report(kind: str, params: ForecastParams) -> RefreshForecast | RecurringForecast:
    async with connection() as conn:
        if kind == "refresh":
            return await refresh_forecast(conn, params)
        return await recurring_forecast(conn, params)


def refresh_chart(report: RefreshForecast) -> BarChart:
    """Cost falling due in each year; what is overdue already as a column of its own."""
    years = [y.cost for y in report.year_totals]
    if report.overdue.cost > 0:
        categories = ["Overdue", *report.years]
        series = [
            Series(
                "Overdue before the first year", [report.overdue.cost, *([Decimal(0)] * len(years))]
            ),
            Series("Due in the year", [Decimal(0), *years]),
        ]
    else:
        categories, series = list(report.years), [Series("Due in the year", years)]
    return bar_chart(
        f"Refresh cost by financial year, {report.years[0]} to {report.years[-1]}",
        categories,
        series,
        description="Replacement cost of the devices falling due for refresh in each year.",
    )


def recurring_chart(report: RecurringForecast) -> BarChart:
    series = [Series(k.kind.capitalize(), [y.cost for y in k.years]) for k in report.by_kind]
    return bar_chart(
        f"Recurring cost by financial year, {report.years[0]} to {report.years[-1]}",
        report.years,
        series or [Series("Recurring cost", [y.cost for y in report.year_totals])],
        description="Airtime, licence and support charges in each year, by kind.",
    )


def _year_options(chosen: str | None) -> list[str]:
    now = current_fy()
    options = [fy_label(y) for y in range(now - YEARS_BEFORE, now + YEARS_AFTER + 1)]
    if chosen and chosen not in options:
        options.append(chosen)
    return options


def _form(
    kind: str, from_year: str | None, years: str | None, group_by: str | None
) -> dict[str, str]:
    return {
        "kind": kind,
        "from": from_year or fy_label(current_fy()),
        "years": years or str(DEFAULT_YEARS),
        "group_by": group_by or "model",
    }


def _choices() -> dict[str, Sequence[str]]:
    return {
        "years": [str(n) for n in range(1, MAX_YEARS + 1)],
        "group_by": [str(g) for g in ForecastGroup],
    }


@get("/forecasts", name="forecasts", opt=FORECASTS)
async def forecasts_page(
    request: Request[Any, Any, Any],
    kind: Kind = None,
    from_year: FromYear = None,
    years: Years = None,
    group_by: GroupBy = None,
) -> Template:
    chosen = kind if kind in KINDS else "refresh"
    form = _form(chosen, from_year, years, group_by)
    common: dict[str, Any] = {
        "form": form,
        "kinds": KINDS,
        "year_options": _year_options(from_year),
        "choices": _choices(),
    }
    try:
        params = _params(_kind(kind), from_year, years, group_by)
    except ValidationFailed as exc:
        return page(request, "forecasts.html", status=422, errors=field_errors(exc), **common)
    report = await _report(chosen, params)
    chart = (
        refresh_chart(report) if isinstance(report, RefreshForecast) else recurring_chart(report)
    )
    query = {"kind": chosen, "from": fy_label(params.first_year), "years": str(params.years)}
    if chosen == "refresh":
        query["group_by"] = params.group_by
    return page(
        request,
        "forecasts.html",
        report=report,
        chart=chart,
        params=params,
        query=query,
        **common,
    )


@get("/forecasts/download", name="forecasts-download", opt=FORECASTS)
async def download(
    kind: Kind = None,
    from_year: FromYear = None,
    years: Years = None,
    group_by: GroupBy = None,
    fmt: Format = None,
) -> Response[bytes]:
    """The forecast as the API's CSV or XLSX file (formula-safe cells)."""
    chosen = _kind(kind)
    params = _params(chosen, from_year, years, group_by)
    file_format = (fmt or "").strip().lower()
    if file_format not in (OutputFormat.CSV, OutputFormat.XLSX):
        raise ValidationFailed.one("format", "the file is csv or xlsx")
    report = await _report(chosen, params)
    out = render("refresh" if chosen == "refresh" else "recurring", report, params, file_format)
    return Response(
        content=out.body,
        headers={
            "Content-Type": out.media_type,
            "Content-Disposition": f"attachment; filename={out.filename}",
            "Cache-Control": "no-store",
        },
    )


HANDLERS: Final = [forecasts_page, download]
