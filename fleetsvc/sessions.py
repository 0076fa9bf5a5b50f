"""Signed-in browsers: sessions kept in PostgreSQL, a message for the next page, and
searches kept server-side so that the terms people search by never go in a URL.

The cookie holds a random value; only its SHA-256 is stored. A session ends when its user
signs out or is disabled, after ``idle_minutes`` without a request, or after
``MAX_HOURS`` whatever its use.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg
import msgspec

MAX_HOURS = 12
MAX_SEARCHES = 50  # kept per session; older ones are dropped


@dataclass(frozen=True, slots=True)
class Flash:
    """One message shown once, on the next page: ``kind`` is ``ok`` or ``error``."""

    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class SessionUser:
    """A live session and the account behind it, as a page request sees them."""

    session_id: int
    user_id: int
    email: str
    role: str
    csrf_token: str
    flash: Flash | None


@dataclass(frozen=True, slots=True)
class NewSession:
    cookie_value: str
    csrf_token: str


def _digest(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()


async def start_session(conn: asyncpg.Connection, user_id: int) -> NewSession:
    """A new session (a new id at every sign-in, so a planted cookie is worth nothing)."""
    cookie_value = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO user_session (token_hash, user_id, csrf_token) VALUES ($1, $2, $3)",
        _digest(cookie_value),
        user_id,
        csrf_token,
    )
    # Searches of this user's finished sessions are personal data no page will show again.
    await conn.execute(
        "DELETE FROM saved_search WHERE session_id IN (SELECT id FROM user_session"
        " WHERE user_id = $1 AND (ended_at IS NOT NULL OR last_seen_at < now() - interval"
        f" '{MAX_HOURS} hours'))",
        user_id,
    )
    return NewSession(cookie_value=cookie_value, csrf_token=csrf_token)


_LOOKUP = f"""
WITH live AS (
    SELECT s.id, s.flash FROM user_session s JOIN app_user u ON u.id = s.user_id
    WHERE s.token_hash = $1 AND s.ended_at IS NULL AND u.active
      AND s.last_seen_at > now() - make_interval(mins => $2)
      AND s.created_at > now() - interval '{MAX_HOURS} hours'
    FOR UPDATE OF s
)
UPDATE user_session s SET last_seen_at = now(), flash = NULL
FROM live, app_user u
WHERE s.id = live.id AND u.id = s.user_id
RETURNING s.id, s.user_id, s.csrf_token, live.flash, u.email, u.role
"""


# A session touched within the last minute with no message waiting is read, not written:
# most page views are then one read, not a durable commit each (a touch is up to this late,
# so an idle session ends between ``idle_minutes`` and a minute more after its last use).
_TOUCH_EVERY_SECONDS = 60
_PEEK = f"""
SELECT s.id, s.user_id, s.csrf_token, u.email, u.role FROM user_session s
JOIN app_user u ON u.id = s.user_id
WHERE s.token_hash = $1 AND s.ended_at IS NULL AND u.active AND s.flash IS NULL
  AND s.last_seen_at > now() - make_interval(secs => $2)
  AND s.created_at > now() - interval '{MAX_HOURS} hours'
"""


async def session_user(
    conn: asyncpg.Connection, cookie_value: str, idle_minutes: int
) -> SessionUser | None:
    """The live session for a cookie, touched (its idle time starts again) and with its
    message for this page taken off it; None when it has ended or never was."""
    if not cookie_value or len(cookie_value) > 100:
        return None
    digest = _digest(cookie_value)
    fresh = min(_TOUCH_EVERY_SECONDS, idle_minutes * 30)
    peeked = await conn.fetchrow(_PEEK, digest, float(fresh))
    if peeked is not None:
        return SessionUser(
            session_id=peeked["id"],
            user_id=peeked["user_id"],
            email=peeked["email"],
            role=peeked["role"],
            csrf_token=peeked["csrf_token"],
            flash=None,
        )
    row = await conn.fetchrow(_LOOKUP, digest, idle_minutes)
    if row is None:
        return None
    flash = None
    if row["flash"] is not None:
        data = msgspec.json.decode(row["flash"])
        flash = Flash(kind=str(data["kind"]), text=str(data["text"]))
    return SessionUser(
        session_id=row["id"],
        user_id=row["user_id"],
        email=row["email"],
        role=row["role"],
        csrf_token=row["csrf_token"],
        flash=flash,
    )


async def end_session(conn: asyncpg.Connection, session_id: int) -> None:
    await conn.execute("DELETE FROM saved_search WHERE session_id = $1", session_id)
    await conn.execute(
        "UPDATE user_session SET ended_at = COALESCE(ended_at, now()) WHERE id = $1", session_id
    )


async def set_flash(conn: asyncpg.Connection, session_id: int, flash: Flash) -> None:
    await conn.execute(
        "UPDATE user_session SET flash = $2::jsonb WHERE id = $1",
        session_id,
        msgspec.json.encode({"kind": flash.kind, "text": flash.text}).decode(),
    )


async def save_search(
    conn: asyncpg.Connection, session_id: int, kind: str, query: Mapping[str, str]
) -> str:
    """Keep a search's terms with the session; the page's URL names only the handle
    returned (random, so it says nothing of the terms and is useless to anyone else)."""
    handle = secrets.token_urlsafe(16)
    await conn.execute(
        "INSERT INTO saved_search (session_id, handle, kind, query) VALUES ($1, $2, $3, $4::jsonb)",
        session_id,
        handle,
        kind,
        msgspec.json.encode(dict(query)).decode(),
    )
    await conn.execute(
        "DELETE FROM saved_search WHERE session_id = $1 AND id NOT IN (SELECT id FROM"
        " saved_search WHERE session_id = $1 ORDER BY id DESC LIMIT $2)",
        session_id,
        MAX_SEARCHES,
    )
    return handle


async def load_search(
    conn: asyncpg.Connection, session_id: int, kind: str, handle: str
) -> dict[str, str] | None:
    """The terms behind a handle, if this session saved it for this kind of search."""
    if not handle or len(handle) > 43:
        return None
    raw = await conn.fetchval(
        "SELECT query FROM saved_search WHERE handle = $1 AND session_id = $2 AND kind = $3",
        handle,
        session_id,
        kind,
    )
    if raw is None:
        return None
    data = msgspec.json.decode(raw)
    return {str(k): str(v) for k, v in data.items()}
