"""The bulk-job commands, one module each, attached to the ``fleetsvc`` group."""

from __future__ import annotations

import click

from fleetsvc.commands import demo, forecast, imports, mdm, worker


def register(main: click.Group) -> None:
    for module in (imports, forecast, mdm, demo, worker):
        module.register(main)
