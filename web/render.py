"""Rendering a page: every template gets the signed-in user, the navigation their role may
open, the form token and the message left for this page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.response import Template

from fleetsvc.errors import Conflict, FieldProblem, ValidationFailed
from web.csrf import FIELD, expected_token
from web.guards import admits, page_user

# Pages show people's data: no shared cache or back button after signing out may keep it.
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    handler: str  # the route handler's name: the item shows for the roles it admits


# Phase 2 pages add their item here; each shows only to the roles its handler admits.
NAVIGATION: Sequence[NavItem] = (
    NavItem("Dashboard", "home"),
    NavItem("Devices", "devices"),
    # The stores, finance and MDM pages.
    NavItem("Imports", "imports"),
    NavItem("Forecasts", "forecasts"),
    NavItem("MDM", "mdm"),
    NavItem("Procurement", "procurement"),
    NavItem("People", "people"),
    NavItem("Vehicles", "vehicles"),
    NavItem("Stocktakes", "stocktakes"),
    NavItem("Users", "users"),
    NavItem("My account", "account"),
)


def can(request: Request[Any, Any, Any], handler_name: str) -> bool:
    """Whether the signed-in user may use the named page or action (so that a link or a
    button they may not use is not shown; the guard refuses it anyway)."""
    index = request.app.get_handler_index_by_name(handler_name)
    if index is None:
        raise LookupError(f"no page handler named {handler_name!r}")
    user = page_user(request)
    return admits(index["handler"], user.role if user else None)


def navigation(request: Request[Any, Any, Any]) -> list[dict[str, str | bool]]:
    here = request.scope.get("route_handler")
    here_name = getattr(here, "name", None)
    return [
        {
            "label": item.label,
            "url": request.app.route_reverse(item.handler),
            "current": item.handler == here_name,
        }
        for item in NAVIGATION
        if page_user(request) is not None and can(request, item.handler)
    ]


def field_errors(exc: ValidationFailed | Conflict) -> dict[str, str]:
    """A form's problems by field, to be shown beside each field."""
    if isinstance(exc, ValidationFailed):
        problems = exc.problems
    else:
        problems = [FieldProblem(exc.field or "form", exc.message)]
    out: dict[str, str] = {}
    for p in problems:
        out.setdefault(p.field.split(".")[0], p.message)
    return out


def page(
    request: Request[Any, Any, Any],
    template: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> Template:
    user = page_user(request)
    base: dict[str, Any] = {
        "user": user,
        "nav": navigation(request),
        "csrf_field": FIELD,
        "csrf_value": expected_token(request),
        "flash": user.flash if user else None,
        "can": lambda name: can(request, name),
        "errors": {},
        "values": {},
    }
    return Template(
        template_name=template,
        context={**base, **context},
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )
