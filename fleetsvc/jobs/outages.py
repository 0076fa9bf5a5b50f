"""The database going away, as the worker sees it: which failures mean it is gone (not that
the work was wrong), and the jittered backoff the worker waits with before trying again."""

from __future__ import annotations

import asyncio
import random
from typing import Final

import asyncpg

_GONE_ERRORS: Final = (
    OSError,  # refused, reset, no socket: the server is down or restarting
    asyncio.TimeoutError,  # connecting timed out
    asyncpg.PostgresConnectionError,  # class 08: the connection broke
    asyncpg.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.AdminShutdownError,  # 57P01: shut down, or our session was terminated
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.TooManyConnectionsError,
)


def database_gone(exc: BaseException) -> bool:
    """A failure that says the database went away, not that the work was wrong."""
    if isinstance(exc, _GONE_ERRORS):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)


class DatabaseGone(Exception):
    """The worker's database connection is gone; the message says why (no password)."""


class Backoff:
    def __init__(self, first: float = 0.5, cap: float = 30.0) -> None:
        self.first, self.cap, self.tries = first, cap, 0

    def next(self) -> float:
        delay: float = min(self.cap, self.first * 2**self.tries)
        self.tries += 1
        return delay * (0.75 + random.random() / 2)  # noqa: S311 - jitter

    def reset(self) -> None:
        self.tries = 0
