"""What the app factory mounts for the pages: their router (one guard, the form-token
check), the templates, the static files, the security headers and the error pages.

``api/app.py`` composes the service from this module and the API; nothing else in
``api`` imports ``web``, and nothing in ``web`` imports ``api``.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment
from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from fleetsvc import __version__
from web import (
    account,
    forecasts,
    formats,
    home,
    imports,
    mdm,
    people,
    procurement,
    stocktakes,
    users,
    vehicles,
)
from web.csrf import check_form_token
from web.devices import HANDLERS as DEVICE_PAGES
from web.errors import PageError, error_page
from web.guards import page_guard
from web.security import security_headers

__all__ = [
    "PageError",
    "error_page",
    "is_page_path",
    "pages_router",
    "security_headers",
    "static_router",
    "template_config",
]

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
# Not the pages: the API, its documents and the probes answer errors as problem JSON.
_NOT_PAGES = ("/api", "/schema", "/health", "/ready", "/metrics")


def is_page_path(path: str) -> bool:
    return not any(path == p or path.startswith(p + "/") for p in _NOT_PAGES)


def sentence(text: object) -> str:
    """A domain message ("no user with id 5") as a sentence on a page."""
    value = str(text).strip()
    if not value:
        return value
    value = value[0].upper() + value[1:]
    return value if value.endswith((".", "!", "?")) else value + "."


def _zone() -> tzinfo:
    try:
        return ZoneInfo("Europe/London")
    except ZoneInfoNotFoundError:  # a machine with no time-zone data: UTC, said so
        return UTC


_LOCAL = _zone()


def when(value: datetime | None) -> str:
    """A moment as people here read it: ``3 Dec 2026, 14:05`` in UK time."""
    if value is None:
        return ""
    local = value.astimezone(_LOCAL)
    suffix = " UTC" if _LOCAL is UTC else ""
    return f"{local.day} {local:%b %Y, %H:%M}{suffix}"


def _configure(engine: Any) -> None:
    env: Environment = engine.engine
    env.filters["sentence"] = sentence
    env.filters["when"] = when
    env.globals["version"] = __version__
    formats.install(env)
    env.trim_blocks = True
    env.lstrip_blocks = True


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(
        directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=_configure
    )


def pages_router() -> Router:
    return Router(
        path="/",
        route_handlers=[
            home.home,
            account.SignIn,
            account.sign_out,
            account.Account,
            users.Users,
            stocktakes.Stocktakes,
            # The stores, finance and MDM pages.
            *imports.HANDLERS,
            *forecasts.HANDLERS,
            *mdm.HANDLERS,
            *procurement.HANDLERS,
            *DEVICE_PAGES,
            *people.HANDLERS,
            *vehicles.HANDLERS,
        ],
        guards=[page_guard],
        before_request=check_form_token,
        include_in_schema=False,
    )


def static_router() -> Router:
    return create_static_files_router(
        path="/static",
        directories=[STATIC],
        name="static",
        cache_control=CacheControlHeader(max_age=3600),
        include_in_schema=False,
    )
