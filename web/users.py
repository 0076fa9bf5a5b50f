"""The admin's users page: list and search accounts, create one, change a role, disable.

A search by e-mail is posted, kept with the session, and named in the URL by a random
handle: an e-mail address is personal data and must not land in URLs or logs.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from db.engine import connection, transaction
from fleetsvc import sessions, users
from fleetsvc.errors import Conflict, ValidationFailed
from fleetsvc.pagination import PageRequest, decode_cursor
from fleetsvc.sessions import Flash
from fleetsvc.vocabulary import Role
from web.forms import actor, form_values
from web.guards import ADMIN_ONLY, signed_in
from web.render import field_errors, page
from web.search import recall, remember

SEARCH_KIND = "users"
PAGE_SIZE = 50


class Users(Controller):
    path = "/users"
    opt = ADMIN_ONLY

    async def _render(
        self,
        request: Request[Any, Any, Any],
        *,
        search: str | None = None,
        cursor: str | None = None,
        status: int = 200,
        **context: Any,
    ) -> Template:
        terms = await recall(request, SEARCH_KIND, search)
        async with connection() as conn:
            after = decode_cursor(cursor) if cursor else None
            found = await users.list_users(
                conn,
                PageRequest(limit=PAGE_SIZE, after_id=after),
                email_contains=(terms or {}).get("email"),
            )
        return page(
            request,
            "users.html",
            status=status,
            found=found,
            search=search if terms else None,
            search_terms=terms,
            search_lost=bool(search) and terms is None,
            roles=tuple(Role),
            **context,
        )

    @get("/", name="users")
    async def list_users(
        self,
        request: Request[Any, Any, Any],
        search: Annotated[str | None, QueryParameter(max_length=43)] = None,
        cursor: Annotated[str | None, QueryParameter(max_length=64)] = None,
    ) -> Template:
        return await self._render(request, search=search, cursor=cursor)

    @post("/search", name="users-search", status_code=303)
    async def search(self, request: Request[Any, Any, Any]) -> Redirect:
        email = (await form_values(request)).get("email", "")
        return await remember(request, SEARCH_KIND, {"email": email}, "/users")

    @post("/", name="users-create", status_code=303)
    async def create(self, request: Request[Any, Any, Any]) -> Redirect | Template:
        me = signed_in(request)
        values = await form_values(request)
        try:
            async with transaction() as conn:
                user = await users.create_user(
                    conn,
                    actor(request),
                    values.get("email", ""),
                    values.get("role", ""),
                    values.get("password", ""),
                )
                await sessions.set_flash(
                    conn, me.session_id, Flash("ok", f"User {user.id} created.")
                )
        except (ValidationFailed, Conflict) as exc:
            values.pop("password", None)
            return await self._render(
                request,
                status=409 if isinstance(exc, Conflict) else 422,
                errors=field_errors(exc),
                values=values,
            )
        return Redirect(f"/users/{user.id}", status_code=303)

    @get("/{user_id:int}", name="user")
    async def show(self, request: Request[Any, Any, Any], user_id: FromPath[int]) -> Template:
        return await self._user_page(request, user_id)

    async def _user_page(
        self,
        request: Request[Any, Any, Any],
        user_id: int,
        status: int = 200,
        errors: dict[str, str] | None = None,
    ) -> Template:
        async with connection() as conn:
            user = await users.get_user(conn, user_id)
        return page(
            request,
            "user.html",
            status=status,
            shown=user,
            roles=tuple(Role),
            is_me=user.id == signed_in(request).user_id,
            errors=errors or {},
        )

    async def _change(self, request: Request[Any, Any, Any], user_id: int, what: str) -> Redirect:
        me = signed_in(request)
        values = await form_values(request)
        async with transaction() as conn:
            if what == "role":
                user = await users.change_role(
                    conn, actor(request), user_id, values.get("role", "")
                )
                message = f"User {user.id} now has the role {user.role}."
            elif what == "disable":
                user = await users.disable_user(conn, actor(request), user_id)
                message = f"User {user.id} is disabled: their sessions have ended."
            else:
                user = await users.enable_user(conn, actor(request), user_id)
                message = f"User {user.id} can sign in again."
            await sessions.set_flash(conn, me.session_id, Flash("ok", message))
        return Redirect(f"/users/{user_id}", status_code=303)

    @post("/{user_id:int}/password", name="user-password", status_code=303)
    async def set_password(
        self, request: Request[Any, Any, Any], user_id: FromPath[int]
    ) -> Redirect | Template:
        me = signed_in(request)
        values = await form_values(request)
        try:
            async with transaction() as conn:
                await users.set_password(conn, actor(request), user_id, values.get("password", ""))
                await sessions.set_flash(
                    conn,
                    me.session_id,
                    Flash("ok", f"User {user_id} has a new password; their sessions have ended."),
                )
        except ValidationFailed as exc:
            return await self._user_page(request, user_id, 422, field_errors(exc))
        return Redirect(f"/users/{user_id}", status_code=303)

    @post("/{user_id:int}/role", name="user-role", status_code=303)
    async def change_role(
        self, request: Request[Any, Any, Any], user_id: FromPath[int]
    ) -> Redirect:
        return await self._change(request, user_id, "role")

    @post("/{user_id:int}/disable", name="user-disable", status_code=303)
    async def disable(self, request: Request[Any, Any, Any], user_id: FromPath[int]) -> Redirect:
        return await self._change(request, user_id, "disable")

    @post("/{user_id:int}/enable", name="user-enable", status_code=303)
    async def enable(self, request: Request[Any, Any, Any], user_id: FromPath[int]) -> Redirect:
        return await self._change(request, user_id, "enable")
