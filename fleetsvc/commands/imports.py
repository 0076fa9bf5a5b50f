"""`fleetsvc import FILE --profile P [--commit] [--allow-partial] [--location CODE]
[--rejected-out PATH]`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from fleetsvc.imports.summary import DeliveryImport


def register(main: click.Group) -> None:
    """Attach this module's command(s) to ``main``."""
    main.add_command(import_command)


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--profile", required=True, help="vodafone-despatch, cdw-asn, babcock-install, …")
@click.option("--commit", "commit", is_flag=True, help="Commit the rows (default: preview).")
@click.option(
    "--allow-partial", is_flag=True, help="Commit the valid rows even if others are rejected."
)
@click.option(
    "--location",
    default=None,
    metavar="CODE",
    help="The location a delivery's devices arrive at (default: FLEETSVC_DEFAULT_LOCATION).",
)
@click.option(
    "--rejected-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write rejected rows (default: rejected-<import id>.csv).",
)
def import_command(
    file: Path,
    profile: str,
    commit: bool,
    allow_partial: bool,
    location: str | None,
    rejected_out: Path | None,
) -> None:
    """Preview or commit a supplier delivery file.

    Exit status 0 when the file was committed or previews clean, 1 when rows were rejected
    and nothing was committed.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from fleetsvc.commands import import_report
    from fleetsvc.commands.common import cli_actor, load, run_with_database
    from fleetsvc.imports import commit_jobs, run
    from fleetsvc.jobs.worker import own_worker
    from fleetsvc.vocabulary import ImportStatus

    import_report.refuse_contradictions(
        file, commit=commit, allow_partial=allow_partial, rejected_out=rejected_out
    )
    settings = load()
    console = Console(stderr=True)

    async def job() -> tuple[DeliveryImport, Path | None, import_report.Issues]:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task(f"reading {file.name}", total=None)
            checking = "committing" if commit else "previewing"

            def progress(rows: int, share: float | None) -> None:
                # A bar over the bytes of the file read (a pulsing one when that is unknown),
                # then the checks and writes, which happen once the whole file is read.
                if share is not None and share >= 1.0:
                    text = f"{rows:,} rows read from {file.name}; {checking}"
                else:
                    text = f"{rows:,} rows read from {file.name}"
                bar.update(task, description=text, total=None if share is None else 1.0)
                if share is not None:
                    bar.update(task, completed=share)

            def watch(phase: str, rows: int, share: float | None) -> None:
                if phase == "reading":
                    progress(rows, share)
                else:
                    bar.update(task, description=f"{rows:,} rows read from {file.name}; {phase}")

            dirs = [settings.profiles_dir] if settings.profiles_dir else []
            if commit:
                # A job of this process (so a killed command leaves nothing stuck: its lease
                # expires and the import is failed), waited for to its end.
                started = await commit_jobs.start_upload(
                    cli_actor(),
                    path=file,
                    file_name=file.name,
                    profile_name=profile,
                    allow_partial=allow_partial,
                    extra_profile_dirs=tuple(dirs),
                    location=location,
                    watcher=watch,
                    remove_file=False,
                )
                try:
                    item = await commit_jobs.finished(started, None)
                finally:
                    await own_worker(settings).close()
                assert item is not None
            else:
                item = await run.run_import(
                    cli_actor(),
                    path=file,
                    file_name=file.name,
                    profile_name=profile,
                    mode="preview",
                    allow_partial=allow_partial,
                    extra_profile_dirs=dirs,
                    progress=progress,
                    location=location,
                )
        written = None
        if item.tally().blocking:
            written = rejected_out or Path(f"rejected-{item.id}.csv")
            await _write_rejected(item.id, written)
        return item, written, await import_report.gather(item.id)

    item, written, issues = run_with_database(settings, job)
    import_report.print_report(Console(), item, issues, written)
    sys.exit(0 if item.status == ImportStatus.COMMITTED or not item.tally().blocking else 1)


async def _write_rejected(import_id: int, path: Path) -> None:
    from fleetsvc.imports import queries

    out = await asyncio.to_thread(path.open, "w", encoding="utf-8", newline="")
    try:
        async for chunk in queries.rejected_csv(import_id):
            await asyncio.to_thread(out.write, chunk)
    finally:
        await asyncio.to_thread(out.close)
