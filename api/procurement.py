"""Suppliers, contracts, purchase orders and licence pools."""

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
