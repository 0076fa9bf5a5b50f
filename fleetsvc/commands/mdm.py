"""`fleetsvc mdm sync --file EXPORT.csv|.zip` and `fleetsvc mdm pull`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from fleetsvc.commands.common import cli_actor, fail, load, run_with_database

if TYPE_CHECKING:
    from fleetsvc.mdm.graph import PullStats
    from fleetsvc.mdm.reconcile import Reconciliation
    from fleetsvc.mdm.runs import Run


def register(main: click.Group) -> None:
    """Attach this module's command(s) to ``main``."""
    main.add_command(mdm_group)


@click.group("mdm")
def mdm_group() -> None:
    """MDM sync: from the console's export file, or pulled from the MDM's Graph API."""


def _print_run(
    run: Run, report: Reconciliation, extra: list[tuple[str, str]] | None = None
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=False, highlight=False)
    table = Table(title=f"MDM run {run.run_id} ({run.source}): {run.status}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    c = run.counts
    for label, value in [
        ("batches", run.batches),
        ("records received", c.received),
        ("matched to assets", c.matched),
        ("not in the register", c.unknown),
        ("assets changed", c.changed),
        ("records rejected", c.rejected),
        ("still checking in (disposed, retired, lost, stolen)", report.still_checking_in.count),
        (f"deployed, not seen for {report.stale_days} days", report.not_seen.count),
        ("user mismatches", report.user_mismatches.count),
        ("duplicate serials or IMEIs", report.duplicates.count),
        ("non-compliant", report.noncompliant_by_business_unit.count),
        (
            "MDM capacity used",
            f"{report.capacity.managed:,} of {report.capacity.capacity:,}"
            f" (headroom {report.capacity.headroom:,})",
        ),
    ]:
        table.add_row(label, f"{value:,}" if isinstance(value, int) else str(value))
    for label, value in extra or []:
        table.add_row(label, value)
    console.print(table)
    if run.issues:
        issues = Table(title=f"rejected records (first {len(run.issues)})")
        for col in ("batch", "row/index", "device id", "field", "why"):
            issues.add_column(col)
        for i in run.issues:
            issues.add_row(
                str(i.batch), str(i.index), i.mdm_device_id or "", i.field or "", i.message
            )
        console.print(issues)
    console.print(f"details: GET /api/v1/mdm/runs/{run.run_id}")


async def _report(run_id: int) -> Reconciliation:
    from db.engine import connection
    from fleetsvc.mdm.reconcile import reconcile
    from fleetsvc.settings import get_settings

    settings = get_settings()
    async with connection() as conn:
        return await reconcile(
            conn,
            capacity=settings.mdm_capacity,
            stale_days=settings.mdm_stale_days,
            limit=1,
            run_id=run_id,
        )


@mdm_group.command("sync")
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The MDM console's device export: a CSV, or the zipped CSV of a bulk export.",
)
@click.option("--run-id", default=None, help="A run id of your own (default: generated).")
def sync(path: Path, run_id: str | None) -> None:
    """Reconcile the register with the MDM's device export, as one run."""
    settings = load()
    from fleetsvc.mdm.sync import sync_file

    async def job() -> tuple[Run, Reconciliation]:
        run = await sync_file(cli_actor(), path, run_id)
        return run, await _report(run.id)

    run, report = run_with_database(settings, job)
    _print_run(run, report)


@mdm_group.command("pull")
@click.option("--run-id", default=None, help="A run id of your own (default: generated).")
@click.option(
    "--batch-size",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 5000),
    help="Records applied per transaction.",
)
def pull(run_id: str | None, batch_size: int) -> None:
    """Read the MDM's device list through its Graph API and reconcile, as one run.

    Configured by FLEETSVC_MDM_GRAPH_URL, FLEETSVC_MDM_TOKEN_URL, FLEETSVC_MDM_CLIENT_ID,
    FLEETSVC_MDM_CLIENT_SECRET, FLEETSVC_MDM_SCOPE and FLEETSVC_MDM_TIMEOUT_SECONDS.
    """
    settings = load()
    from fleetsvc.mdm import graph

    try:
        config = graph.GraphConfig.from_env()
    except graph.GraphConfigError as exc:
        fail(exc.message)

    async def job() -> tuple[Run, Reconciliation, PullStats]:
        run, stats = await graph.pull(cli_actor(), config, run_key=run_id, batch_size=batch_size)
        return run, await _report(run.id), stats

    run, report, stats = run_with_database(settings, job)
    _print_run(
        run,
        report,
        [
            ("Graph pages read", f"{stats.pages:,}"),
            ("Graph requests (retries)", f"{stats.requests:,} ({stats.retries:,})"),
            ("waited for the MDM", f"{stats.waited_seconds:.1f} s"),
        ],
    )
