"""API tokens and roles. A token is shown once; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from db.engine import connection
from fleetsvc import audit
from fleetsvc.conflicts import unique_conflicts
from fleetsvc.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from fleetsvc.vocabulary import Role

TOKEN_PREFIX = "fsv_"  # noqa: S105 - a prefix that makes leaked tokens easy to scan for


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is making a change: recorded on every event."""

    name: str
    role: str
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    role: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewToken:
    info: TokenInfo
    token: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check(name: str, role: str) -> None:
    problems = []
    if not name.strip() or len(name) > 100:
        problems.append(("name", "a token needs a name of 1 to 100 characters"))
    elif not name.isprintable():
        problems.append(("name", "a token name must not contain control characters"))
    if not Role.has(role):
        problems.append(("role", f"role must be one of {Role.listed()}"))
    if problems:
        raise ValidationFailed(FieldProblem(f, m) for f, m in problems)


_INFO_COLUMNS = "id, name, role, created_by, created_at, last_used_at, revoked_at"


def _info(row: asyncpg.Record) -> TokenInfo:
    return TokenInfo(**dict(row))


async def create_token(conn: asyncpg.Connection, actor: Actor, name: str, role: str) -> NewToken:
    _check(name, role)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with unique_conflicts(conn):
        row = await conn.fetchrow(
            "INSERT INTO api_token (name, role, token_hash, created_by) VALUES ($1, $2, $3, $4)"
            f" RETURNING {_INFO_COLUMNS}",
            name.strip(),
            role,
            hash_token(token),
            actor.name,
        )
    assert row is not None
    info = _info(row)
    await audit.record(
        conn, actor, "api_token", info.id, "created", after={"name": info.name, "role": info.role}
    )
    return NewToken(info=info, token=token)


async def list_tokens(conn: asyncpg.Connection) -> list[TokenInfo]:
    rows = await conn.fetch(f"SELECT {_INFO_COLUMNS} FROM api_token ORDER BY id")
    return [_info(r) for r in rows]


@dataclass(frozen=True, slots=True)
class Credential:
    """Something that can act as admin: an API token (page users with roles join later)."""

    kind: Literal["token"]
    id: int


async def ensure_admin_remains(conn: asyncpg.Connection, losing: Credential) -> None:
    """Refuse (409) a change that would leave no active admin credential, so nobody can
    lock everyone out of managing tokens.

    Run in the transaction that revokes or demotes ``losing``, before the change. It locks
    every active admin credential it counts (FOR UPDATE, in id order): of two transactions
    taking away the last two at once, the second waits for the first, then counts again
    and is refused. A new kind of admin credential is counted (and locked) here too.
    """
    tokens = await conn.fetch(
        "SELECT id FROM api_token WHERE role = $1 AND revoked_at IS NULL ORDER BY id FOR UPDATE",
        Role.ADMIN,
    )
    active = {Credential("token", r["id"]) for r in tokens}
    if losing in active and not active - {losing}:
        raise Conflict(
            f"this is the last active admin {losing.kind}: taking it away would leave nobody "
            "able to manage tokens; create another admin token first"
        )


async def revoke_token(conn: asyncpg.Connection, actor: Actor, key: int | str) -> TokenInfo:
    """Revoke by id or by name; revoking twice is harmless; the last admin token stays."""
    column = "id" if isinstance(key, int) else "name"
    if isinstance(key, int):
        from fleetsvc.records import check_id  # records builds on Actor, from here

        check_id("token", key)  # beyond the column's range: not found, not a driver error
    found = await conn.fetchrow(
        f"SELECT id, role, revoked_at FROM api_token WHERE {column} = $1", key
    )
    if found is None:
        raise NotFound("token", key, by=column)
    if found["role"] == Role.ADMIN:
        await ensure_admin_remains(conn, Credential("token", found["id"]))
    row = await conn.fetchrow(
        "UPDATE api_token SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1"
        f" RETURNING {_INFO_COLUMNS}",
        found["id"],
    )
    assert row is not None
    info = _info(row)
    await audit.record(
        conn, actor, "api_token", info.id, "revoked", after={"name": info.name, "role": info.role}
    )
    _cache.clear()
    return info


# Verified tokens are cached briefly so a read costs one query, not two. A
# revocation reaches other replicas within the cache lifetime (a setting).
_cache: dict[str, tuple[float, Actor]] = {}


async def verify_token(token: str, cache_seconds: float) -> Actor | None:
    """The token's actor, or None. A cache miss costs one statement on a pooled connection
    of its own: marking the token used is no part of the request's transaction."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    now = time.monotonic()
    hit = _cache.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    async with connection() as conn:
        row = await conn.fetchrow(
            "UPDATE api_token SET last_used_at = now()"
            " WHERE token_hash = $1 AND revoked_at IS NULL RETURNING name, role",
            digest,
        )
    if row is None:
        _cache.pop(digest, None)
        return None
    actor = Actor(name=row["name"], role=row["role"])
    if cache_seconds > 0:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[digest] = (now + cache_seconds, actor)
    return actor
