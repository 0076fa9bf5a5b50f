"""The bulk-job and account commands, one module each, attached to the ``fleetsvc`` group."""

from __future__ import annotations

import click

from fleetsvc.commands import audit, demo, forecast, imports, mdm, people, users, worker


def register(main: click.Group) -> None:
    for module in (imports, forecast, mdm, demo, worker, users, audit, people):
        module.register(main)
