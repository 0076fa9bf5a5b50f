"""`fleetsvc mdm`."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Attach this module's command(s) to ``main``."""
