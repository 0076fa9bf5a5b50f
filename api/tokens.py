"""API tokens over HTTP (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody

from api.dependencies import ActorDep
from api.guards import ADMIN_ONLY
from api.vocabulary import one_of
from db.engine import connection, transaction
from fleetsvc import auth
from fleetsvc.checks import name_pattern
from fleetsvc.vocabulary import Role, documented


class TokenCreate(msgspec.Struct, forbid_unknown_fields=True):
    # A name is printable text (auth._check); the document states name_pattern's part of it.
    name: Annotated[str, documented(maxLength=100, pattern=name_pattern())]
    role: Annotated[str, one_of(Role)]


class Token(msgspec.Struct):
    id: int
    name: str
    role: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(Token):
    token: str


def _token(info: auth.TokenInfo) -> Token:
    return Token(
        info.id,
        info.name,
        info.role,
        info.created_by,
        info.created_at,
        info.last_used_at,
        info.revoked_at,
    )


class TokenController(Controller):
    path = "/tokens"
    tags = ["tokens"]
    opt = ADMIN_ONLY

    @post("/", operation_id="createToken", summary="Create a token; its value is shown only here")
    async def create(self, data: JSONBody[TokenCreate], actor: ActorDep) -> TokenCreated:
        async with transaction() as conn:
            new = await auth.create_token(conn, actor, data.name, data.role)
        i = new.info
        return TokenCreated(
            i.id,
            i.name,
            i.role,
            i.created_by,
            i.created_at,
            i.last_used_at,
            i.revoked_at,
            token=new.token,
        )

    @get("/", operation_id="listTokens", summary="List tokens (never their values)")
    async def list_tokens(self) -> list[Token]:
        async with connection() as conn:
            return [_token(t) for t in await auth.list_tokens(conn)]

    @post(
        "/{token_id:int}/revoke",
        operation_id="revokeToken",
        status_code=200,
        summary="Revoke a token",
    )
    async def revoke(self, token_id: FromPath[int], actor: ActorDep) -> Token:
        async with transaction() as conn:
            return _token(await auth.revoke_token(conn, actor, token_id))
