"""Signing in and out, and "my account": the user's own API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Response, Template

from db.engine import connection, transaction
from fleetsvc import sessions, users
from fleetsvc.errors import Conflict, ValidationFailed
from fleetsvc.sessions import Flash
from fleetsvc.settings import get_settings
from web.csrf import SIGN_IN_COOKIE, new_sign_in_token
from web.forms import actor, form_values
from web.guards import EVERYONE, PUBLIC, SESSION_COOKIE, page_user, signed_in
from web.links import safe_next
from web.render import field_errors, page

SIGN_IN_FAILED = (
    "That e-mail address and password do not match an active account. After 5 failed "
    "attempts an account has to wait a while before it can sign in again."
)


def _cookie(key: str, value: str, *, path: str = "/", max_age: int | None = None) -> Cookie:
    return Cookie(
        key=key,
        value=value,
        path=path,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=get_settings().secure_cookies,
    )


class SignIn(Controller):
    path = "/sign-in"
    opt = PUBLIC

    @get("/", name="sign-in")
    async def form(
        self,
        request: Request[Any, Any, Any],
        next_: Annotated[str | None, QueryParameter(name="next")] = None,
        signed_out: FromQuery[str | None] = None,
    ) -> Response[Any]:
        target = safe_next(next_)
        if page_user(request) is not None:
            return Redirect(target, status_code=303)
        token = request.cookies.get(SIGN_IN_COOKIE) or new_sign_in_token()
        response = page(
            request,
            "sign_in.html",
            next=target,
            asked=next_ is not None and target != "/",
            signed_out=signed_out == "1",
            csrf_value=token,
        )
        response.cookies.append(_cookie(SIGN_IN_COOKIE, token, path="/sign-in"))
        return response

    @post("/", name="sign-in-post", status_code=303)
    async def sign_in(self, request: Request[Any, Any, Any]) -> Response[Any]:
        values = await form_values(request)
        target = safe_next(values.get("next"))
        request_id = request.scope.get("state", {}).get("request_id")
        async with transaction() as conn:
            user = await users.sign_in(
                conn, values.get("email", ""), values.get("password", ""), request_id
            )
            new = await sessions.start_session(conn, user.id) if user else None
        if new is None:
            return page(
                request,
                "sign_in.html",
                status=422,
                next=target,
                failed=SIGN_IN_FAILED,
                values={"email": values.get("email", "")},
                csrf_value=request.cookies.get(SIGN_IN_COOKIE, ""),
            )
        response: Response[Any] = Redirect(target, status_code=303)
        response.cookies.append(_cookie(SESSION_COOKIE, new.cookie_value))
        response.cookies.append(_cookie(SIGN_IN_COOKIE, "", path="/sign-in", max_age=0))
        return response


@post("/sign-out", name="sign-out", opt=EVERYONE, status_code=303)
async def sign_out(request: Request[Any, Any, Any]) -> Response[Any]:
    user = signed_in(request)
    async with transaction() as conn:
        await sessions.end_session(conn, user.session_id)
    response: Response[Any] = Redirect(
        "/sign-in", query_params={"signed_out": "1"}, status_code=303
    )
    response.cookies.append(_cookie(SESSION_COOKIE, "", max_age=0))
    return response


class Account(Controller):
    path = "/account"
    opt = EVERYONE

    async def _render(
        self, request: Request[Any, Any, Any], *, status: int = 200, **context: Any
    ) -> Template:
        me = signed_in(request)
        async with connection() as conn:
            tokens = await users.list_own_tokens(conn, me.user_id)
        return page(
            request,
            "account.html",
            status=status,
            tokens=tokens,
            token_roles=users.token_roles_for(me.role),
            **context,
        )

    @get("/", name="account")
    async def show(self, request: Request[Any, Any, Any]) -> Template:
        return await self._render(request)

    @post("/tokens", name="account-token-create", status_code=201)
    async def create_token(self, request: Request[Any, Any, Any]) -> Template:
        me = signed_in(request)
        values = await form_values(request)
        try:
            async with transaction() as conn:
                user = await users.get_user(conn, me.user_id)
                new = await users.create_own_token(
                    conn, actor(request), user, values.get("name", ""), values.get("role", "")
                )
        except (ValidationFailed, Conflict) as exc:
            status = 409 if isinstance(exc, Conflict) else 422
            return await self._render(
                request, status=status, errors=field_errors(exc), values=values
            )
        return await self._render(request, status=201, created=new)

    @post("/password", name="account-password", status_code=303)
    async def change_password(self, request: Request[Any, Any, Any]) -> Redirect | Template:
        me = signed_in(request)
        values = await form_values(request)
        try:
            async with transaction() as conn:
                await users.change_password(
                    conn,
                    actor(request),
                    me.user_id,
                    values.get("current_password", ""),
                    values.get("new_password", ""),
                )
                ended = await users.end_user_sessions(conn, me.user_id, keep_session=me.session_id)
                others = f" Your {ended} other session(s) have ended." if ended else ""
                await sessions.set_flash(
                    conn, me.session_id, Flash("ok", f"Your password is changed.{others}")
                )
        except ValidationFailed as exc:
            return await self._render(request, status=422, password_errors=field_errors(exc))
        return Redirect("/account", status_code=303)

    @post("/tokens/{token_id:int}/revoke", name="account-token-revoke", status_code=303)
    async def revoke_token(
        self, request: Request[Any, Any, Any], token_id: FromPath[int]
    ) -> Redirect:
        me = signed_in(request)
        async with transaction() as conn:
            user = await users.get_user(conn, me.user_id)
            info = await users.revoke_own_token(conn, actor(request), user, token_id)
            await sessions.set_flash(
                conn, me.session_id, Flash("ok", f"The token “{info.name}” is revoked.")
            )
        return Redirect("/account", status_code=303)
