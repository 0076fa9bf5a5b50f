"""Assets, SIMs and installs: the register DP engineers use every day."""

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
