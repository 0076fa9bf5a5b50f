"""Device models, with their part numbers and description aliases."""

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
