"""Refresh and recurring-cost forecasts."""

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
