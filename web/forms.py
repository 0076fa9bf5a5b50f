"""Reading a posted form: text fields only, each cut to a length no field of ours needs
more than, so that a huge value costs nothing further down."""

from __future__ import annotations

from typing import Any

from litestar import Request

from fleetsvc.auth import Actor
from fleetsvc.users import user_ref
from web.guards import signed_in

MAX_FIELD = 1000


async def form_values(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    return {k: v[:MAX_FIELD] for k, v in form.items() if isinstance(v, str)}


def actor(request: Request[Any, Any, Any]) -> Actor:
    """The signed-in user as the author of a change: ``user:17`` in every event."""
    user = signed_in(request)
    request_id = request.scope.get("state", {}).get("request_id")
    return Actor(user_ref(user.user_id), user.role, request_id)
