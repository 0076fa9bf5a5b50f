"""`fleetsvc demo`: load a realistic fleet so a new user sees a real-sized register."""

from __future__ import annotations

import time

import click

from fleetsvc.commands.common import cli_actor, load, run_with_database


def register(main: click.Group) -> None:
    main.add_command(demo)


@click.command()
@click.option(
    "--scale",
    type=click.FloatRange(0.001, 1.0),
    default=1.0,
    show_default=True,
    help="Load a smaller fleet of the same shape (0.01: 100 + 297 handsets).",
)
def demo(scale: float) -> None:
    """Load the demo fleet (about 40,000 handsets, 2,700 tablets, 45,000 people).

    Beside what the register holds, never over it; running it again changes nothing.
    """
    settings = load()
    from fleetsvc.demo.load import load_demo
    from fleetsvc.demo.shape import FULL

    size = FULL if scale == 1.0 else FULL.scaled(scale)

    started = time.monotonic()

    def say(message: str) -> None:
        click.echo(f"  {time.monotonic() - started:5.1f}s  {message}", err=True)

    summary = run_with_database(settings, lambda: load_demo(cli_actor(), say, size))
    if summary.already_loaded:
        click.echo("the demo fleet was already loaded: nothing was changed")
    elif summary.resumed:
        click.echo("an earlier run loaded part of the demo fleet; this one did the rest")
    for what, n in summary.counts.items():
        click.echo(f"{what:>36}: {n:,}")
    for note in summary.notes:
        click.echo(f"note: {note}")
    click.echo(f"done in {time.monotonic() - started:.1f}s")
