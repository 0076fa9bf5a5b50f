"""Who may open each page: one guard on the pages' router reads the session, and each
handler declares the roles it admits in ``opt`` (``roles(...)`` below), or that it is
``PUBLIC``. A handler that declares neither admits nobody: forgetting is a 403 page,
never an open door."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from db.engine import connection
from fleetsvc.errors import Forbidden, NotAuthenticated
from fleetsvc.sessions import SessionUser, session_user
from fleetsvc.settings import get_settings
from fleetsvc.vocabulary import Role

SESSION_COOKIE = "fleetsvc_session"
USER_STATE = "page_user"


def roles(*names: str) -> dict[str, Any]:
    return {"roles": frozenset(names)}


PUBLIC: dict[str, Any] = {"public": True}
# The page matrix (written out in the README's "The pages").
EVERYONE = roles(*Role)
ADMIN_ONLY = roles(Role.ADMIN)
# Stores' work: counting a location (stocktakes).
STORES = roles(Role.ADMIN, Role.STORES)
# The stores, finance and MDM pages: the API's roles for the same work (api/guards.py).
READ_REGISTER = EVERYONE
IMPORTS = roles(Role.ADMIN, Role.STORES)
FORECASTS = roles(Role.ADMIN, Role.FINANCE, Role.AUDITOR, Role.ENGINEER, Role.STORES)
WRITE_PROCUREMENT = roles(Role.ADMIN, Role.STORES, Role.FINANCE)
# Moving a device through its lifecycle (issue, return, repair, lost, dispose): the API's
# WRITE_REGISTER.
DEVICE_ACTIONS = roles(Role.ADMIN, Role.ENGINEER, Role.STORES)


class SignInRequired(NotAuthenticated):
    """No live session: the page answers with the sign-in page, then the page asked for."""


def admits(handler: BaseRouteHandler, role: str | None) -> bool:
    """Whether a user of ``role`` (None: not signed in) may use this handler."""
    if handler.opt.get("public"):
        return True
    return role is not None and role in handler.opt.get("roles", frozenset())


async def page_guard(
    connection_: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    cookie = connection_.cookies.get(SESSION_COOKIE, "")
    user: SessionUser | None = None
    if cookie:
        async with connection() as conn:
            user = await session_user(conn, cookie, get_settings().session_idle_minutes)
    connection_.scope.setdefault("state", {})[USER_STATE] = user
    if handler.opt.get("public"):
        return
    if user is None:
        raise SignInRequired("sign in to go on")
    if not admits(handler, user.role):
        raise Forbidden(f"the {user.role} role may not use this page")


def page_user(connection_: ASGIConnection[Any, Any, Any, Any]) -> SessionUser | None:
    """The signed-in user the guard found (None on a public page with nobody signed in)."""
    user = connection_.scope.get("state", {}).get(USER_STATE)
    return user if isinstance(user, SessionUser) else None


def signed_in(connection_: ASGIConnection[Any, Any, Any, Any]) -> SessionUser:
    user = page_user(connection_)
    if user is None:
        raise SignInRequired("sign in to go on")
    return user
