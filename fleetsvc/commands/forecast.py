"""`fleetsvc forecast`: the refresh or recurring-cost forecast as JSON, CSV or XLSX."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

import click

from fleetsvc.commands.common import fail, load, run_with_database
from fleetsvc.errors import ValidationFailed


def register(main: click.Group) -> None:
    """Attach this module's command(s) to ``main``."""
    main.add_command(forecast)


@click.command()
@click.option("--from", "from_year", default=None, help="First financial year, like 2025/26.")
@click.option("--years", default="5", show_default=True, help="How many years (1–20).")
@click.option(
    "--group-by",
    default=None,
    help="Refresh forecast only: model (the default), category, contract or business_unit.",
)
@click.option(
    "--kind",
    type=click.Choice(["refresh", "recurring"]),
    default="refresh",
    show_default=True,
    help="Refresh (capital) or recurring (airtime, licence, support) cost.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv", "xlsx"]),
    default="json",
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write to this file (JSON and CSV go to standard output without it).",
)
def forecast(
    from_year: str | None,
    years: str,
    group_by: str | None,
    kind: Literal["refresh", "recurring"],
    fmt: str,
    output: Path | None,
) -> None:
    """Forecast refresh or recurring cost by UK financial year."""
    from fleetsvc.finance.forecast import forecast_params
    from fleetsvc.finance.recurring import RecurringForecast, recurring_forecast
    from fleetsvc.finance.refresh import RefreshForecast, refresh_forecast
    from fleetsvc.finance.render import Rendered, render

    if kind == "recurring" and group_by is not None:
        # Recurring cost is by contract and kind, always; a grouping would be ignored.
        fail("--group-by applies to --kind refresh only; --kind recurring is not grouped")
    try:
        params = forecast_params(from_year, years, group_by)
    except ValidationFailed as exc:
        fail("; ".join(f"--{p.field.replace('_', '-')}: {p.message}" for p in exc.problems))
    if fmt == "xlsx" and output is None and sys.stdout.isatty():
        fail("an XLSX workbook needs -o FILE (or redirect standard output to a file)")
    settings = load()

    async def job() -> Rendered:
        from db.engine import connection

        async with connection() as conn:
            report: RefreshForecast | RecurringForecast
            if kind == "refresh":
                report = await refresh_forecast(conn, params)
            else:
                report = await recurring_forecast(conn, params)
        return render(kind, report, params, fmt)

    rendered = run_with_database(settings, job)
    if output is None:
        sys.stdout.buffer.write(rendered.body)
        if fmt == "json":
            sys.stdout.buffer.write(b"\n")
        sys.stdout.flush()
        return
    try:
        output.write_bytes(rendered.body)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    click.echo(f"{kind} forecast written to {output}", err=True)
