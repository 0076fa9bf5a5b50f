"""`fleetsvc worker`: run job workers alone, with no API (as many processes as you like)."""

from __future__ import annotations

import asyncio
import signal

import click

from fleetsvc.commands.common import check_jobs, load, ready_database
from fleetsvc.settings import Settings


def register(main: click.Group) -> None:
    """Attach this module's command(s) to ``main``."""
    main.add_command(worker)


@click.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=None,
    help="Jobs run at once (default FLEETSVC_WORKERS, at least 1).",
)
def worker(concurrency: int | None) -> None:
    """Claim and run jobs until SIGTERM or Ctrl-C (the jobs in flight finish or are released)."""
    settings = load()
    check_jobs(settings)
    asyncio.run(_work(settings, concurrency or max(1, settings.jobs.workers)))


async def _work(settings: Settings, concurrency: int) -> None:
    await ready_database(settings)
    from db.engine import close_pool, open_pool
    from fleetsvc.jobs.worker import run_workers

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The jobs' work, and the worker's take-backs and schedules, use the pool.
    await open_pool(min(settings.db_pool_size, concurrency + 2))
    try:
        await run_workers(settings, concurrency, stop)
    finally:
        await close_pool()
