"""The summary report."""

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
