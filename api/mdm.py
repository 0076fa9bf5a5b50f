"""MDM sync runs and reconciliation."""

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
