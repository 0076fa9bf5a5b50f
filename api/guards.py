"""Authentication and role checks for every ``/api/v1`` route.

One guard sits on the ``/api/v1`` router. Each handler declares the roles it
admits in ``opt={"roles": ...}`` (use the constants below); a handler that
declares none admits nobody, so forgetting is a 403, never an open door.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from fleetsvc.auth import Actor, verify_token
from fleetsvc.errors import Forbidden, NotAuthenticated
from fleetsvc.settings import get_settings
from fleetsvc.vocabulary import Role


def roles(*names: str) -> dict[str, Any]:
    return {"roles": frozenset(names)}


# The role matrix (written out in the README).
READ_REGISTER = roles(Role.ADMIN, Role.ENGINEER, Role.STORES, Role.FINANCE, Role.MDM, Role.AUDITOR)
WRITE_REGISTER = roles(Role.ADMIN, Role.ENGINEER, Role.STORES)
WRITE_PROCUREMENT = roles(Role.ADMIN, Role.STORES, Role.FINANCE)
IMPORTS = roles(Role.ADMIN, Role.STORES)
# Stores' own records: the locations devices are kept at, and counting them (stocktakes).
STORES = roles(Role.ADMIN, Role.STORES)
FINANCE = roles(Role.ADMIN, Role.FINANCE, Role.AUDITOR, Role.ENGINEER, Role.STORES)
MDM_SYNC = roles(Role.ADMIN, Role.MDM)
AUDIT = roles(Role.ADMIN, Role.AUDITOR)
ADMIN_ONLY = roles(Role.ADMIN)
# Jobs: every role may list and read (each sees the jobs it may: fleetsvc.jobs.service);
# every role but the auditor (who writes nothing) may cancel the jobs it sees.
JOBS_READ = READ_REGISTER
JOBS_CANCEL = roles(Role.ADMIN, Role.ENGINEER, Role.STORES, Role.FINANCE, Role.MDM)
# The daily notice's preview: the people who act on it (not the MDM's machine account).
NOTICES = roles(Role.ADMIN, Role.ENGINEER, Role.STORES, Role.FINANCE, Role.AUDITOR)


async def authorise(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("send an API token as 'Authorization: Bearer <token>'")
    settings = get_settings()
    actor = await verify_token(token.strip(), settings.token_cache_seconds)
    if actor is None:
        raise NotAuthenticated("the API token is not valid or has been revoked")
    allowed = handler.opt.get("roles", frozenset())
    if set(getattr(handler, "http_methods", ())) == {"OPTIONS"}:
        # Litestar's own OPTIONS answer (the Allow header) declares no roles; any caller may ask.
        allowed = READ_REGISTER["roles"]
    if actor.role not in allowed:
        raise Forbidden(f"the {actor.role} role may not do this")
    request_id = connection.scope.get("state", {}).get("request_id")
    connection.scope.setdefault("state", {})["actor"] = Actor(actor.name, actor.role, request_id)


def current_actor(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    """The caller, as the guard verified it (a dependency for handlers)."""
    actor = connection.scope.get("state", {}).get("actor")
    if not isinstance(actor, Actor):
        raise NotAuthenticated("not authenticated")
    return actor
