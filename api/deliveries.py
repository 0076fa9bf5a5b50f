"""Delivery imports: upload, preview, commit, rejected rows."""

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
