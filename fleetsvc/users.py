"""People who sign in to the pages: accounts, passwords, sign-in with back-off, roles, and
the API tokens a user makes for themselves.

An e-mail address is personal data: events and logs name a user as ``user:17`` (its id),
never by e-mail. Passwords are hashed with argon2id (``fleetsvc.passwords``); only the
hash is stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from fleetsvc import audit, auth
from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from fleetsvc.pagination import Page, PageRequest, make_page
from fleetsvc.passwords import (
    MAX_PASSWORD,
    hash_password,
    needs_rehash,
    password_problems,
    stand_in_hash,
    verify_password,
)
from fleetsvc.vocabulary import Role

FREE_FAILURES = 5  # failed sign-ins before an account has to wait
FIRST_WAIT_SECONDS = 30
MAX_WAIT_SECONDS = 3600
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    role: str
    active: bool
    created_at: datetime
    disabled_at: datetime | None
    last_sign_in_at: datetime | None
    failed_sign_ins: int
    locked_until: datetime | None

    @property
    def ref(self) -> str:
        """How events and logs name this user: a stable id, not the e-mail."""
        return user_ref(self.id)

    def actor(self, request_id: str | None = None) -> Actor:
        return Actor(name=self.ref, role=self.role, request_id=request_id)


def user_ref(user_id: int) -> str:
    return f"user:{user_id}"


_COLUMNS = (
    "id, email, role, active, created_at, disabled_at, last_sign_in_at, failed_sign_ins,"
    " locked_until"
)


def _user(row: asyncpg.Record) -> User:
    return User(**{k: row[k] for k in User.__slots__})


def _event_view(user: User) -> dict[str, object]:
    return {"role": user.role, "active": user.active}


# --- checks --------------------------------------------------------------------------


def clean_email(email: str) -> str:
    value = email.strip()
    if len(value) > 254 or not _EMAIL.match(value) or not value.isprintable():
        raise ValidationFailed.one(
            "email", "give an e-mail address such as jo.bloggs@force.police.uk"
        )
    return value


def check_role(role: str) -> str:
    if not Role.has(role):
        raise ValidationFailed.one("role", f"role must be one of {Role.listed()}")
    return role


def _problems_of(check: Callable[[str], str], value: str) -> list[FieldProblem]:
    try:
        check(value)
    except ValidationFailed as exc:
        return exc.problems
    return []


async def create_user(
    conn: asyncpg.Connection, actor: Actor, email: str, role: str, password: str
) -> User:
    problems = list(_problems_of(clean_email, email)) + list(_problems_of(check_role, role))
    problems.extend(FieldProblem("password", p) for p in password_problems(password, email))
    if problems:
        raise ValidationFailed(problems)
    password_hash = await hash_password(password)
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                "INSERT INTO app_user (email, password_hash, role) VALUES ($1, $2, $3)"
                f" RETURNING {_COLUMNS}",
                clean_email(email),
                password_hash,
                role,
            )
    except asyncpg.UniqueViolationError:
        # Not the database's message: it would repeat the e-mail address.
        raise Conflict(
            "an account with this e-mail address already exists", field="email"
        ) from None
    assert row is not None
    user = _user(row)
    await audit.record(conn, actor, "user", user.id, "created", after=_event_view(user))
    return user


async def get_user(conn: asyncpg.Connection, user_id: int) -> User:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM app_user WHERE id = $1", user_id)
    if row is None:
        raise NotFound("user", user_id)
    return _user(row)


async def emails_of(conn: asyncpg.Connection, actors: Iterable[str]) -> dict[str, str]:
    """The e-mail address behind each ``user:N`` among ``actors`` (an event's or a record's
    author), for a page to say who; tokens and commands (``cli:root``) are not users."""
    ids = {int(a[5:]) for a in actors if a.startswith("user:") and a[5:].isdigit()}
    ids = {i for i in ids if i < 2**31}
    if not ids:
        return {}
    rows = await conn.fetch("SELECT id, email FROM app_user WHERE id = ANY($1::int[])", sorted(ids))
    return {user_ref(r["id"]): r["email"] for r in rows}


async def find_user(conn: asyncpg.Connection, email: str) -> User:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM app_user WHERE lower(email) = lower($1)", email.strip()
    )
    if row is None:
        missing = NotFound("user", "?")
        missing.message = "no user has that e-mail address"  # never repeat the address
        missing.args = (missing.message,)
        raise missing
    return _user(row)


async def list_users(
    conn: asyncpg.Connection, page: PageRequest, *, email_contains: str | None = None
) -> Page[User]:
    """Users by id; ``email_contains`` matches part of an address, ignoring case."""
    args: list[object] = [page.after_id or 0, page.limit + 1]
    where = "id > $1"
    if email_contains:
        args.append(email_contains.strip().lower())
        where += " AND strpos(lower(email), $3) > 0"
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM app_user WHERE {where} ORDER BY id LIMIT $2", *args
    )
    return make_page([_user(r) for r in rows], page, key=lambda u: u.id)


async def admin_credentials(conn: asyncpg.Connection, *, besides_user: int) -> int:
    """Admin credentials that remain if user ``besides_user`` (and the tokens they own)
    lost admin: active admin users and unrevoked admin tokens.

    Locks the rows it counts, so two admins disabling each other at once cannot both
    succeed and leave none.
    """
    users = await conn.fetch(
        "SELECT id FROM app_user WHERE role = 'admin' AND active AND id <> $1 FOR UPDATE",
        besides_user,
    )
    tokens = await conn.fetch(
        "SELECT id FROM api_token WHERE role = 'admin' AND revoked_at IS NULL"
        " AND owner_user_id IS DISTINCT FROM $1 FOR UPDATE",
        besides_user,
    )
    return len(users) + len(tokens)


async def _refuse_last_admin(conn: asyncpg.Connection, user: User, doing: str) -> None:
    if (
        user.role == Role.ADMIN
        and user.active
        and await admin_credentials(conn, besides_user=user.id) == 0
    ):
        raise Conflict(f"this is the last admin: make another admin first, then {doing} this one")


async def _update(
    conn: asyncpg.Connection, actor: Actor, before: User, action: str, sql: str, *args: object
) -> User:
    row = await conn.fetchrow(
        f"UPDATE app_user SET {sql} WHERE id = $1 RETURNING {_COLUMNS}", before.id, *args
    )
    assert row is not None
    after = _user(row)
    await audit.record(
        conn, actor, "user", after.id, action, before=_event_view(before), after=_event_view(after)
    )
    return after


async def _locked(conn: asyncpg.Connection, user_id: int) -> User:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM app_user WHERE id = $1 FOR UPDATE", user_id)
    if row is None:
        raise NotFound("user", user_id)
    return _user(row)


async def disable_user(conn: asyncpg.Connection, actor: Actor, user_id: int) -> User:
    """Disable an account: its sessions end and the API tokens it made are revoked."""
    user = await _locked(conn, user_id)
    if not user.active:
        return user
    await _refuse_last_admin(conn, user, "disable")
    after = await _update(conn, actor, user, "disabled", "active = false, disabled_at = now()")
    await end_user_sessions(conn, user.id)
    for token in await list_own_tokens(conn, user.id):
        if token.revoked_at is None:
            await auth.revoke_token(conn, actor, token.id)
    return after


async def enable_user(conn: asyncpg.Connection, actor: Actor, user_id: int) -> User:
    user = await _locked(conn, user_id)
    if user.active:
        return user
    return await _update(
        conn,
        actor,
        user,
        "enabled",
        "active = true, disabled_at = NULL, failed_sign_ins = 0, locked_until = NULL",
    )


async def change_role(conn: asyncpg.Connection, actor: Actor, user_id: int, role: str) -> User:
    """A new role; the user's own tokens of a role the new one may not make are revoked."""
    check_role(role)
    user = await _locked(conn, user_id)
    if user.role == role:
        return user
    if user.role == Role.ADMIN:
        await _refuse_last_admin(conn, user, "change the role of")
    after = await _update(conn, actor, user, "role_changed", "role = $2", role)
    allowed = token_roles_for(role)
    for token in await list_own_tokens(conn, user.id):
        if token.revoked_at is None and token.role not in allowed:
            await auth.revoke_token(conn, actor, token.id)
    return after


async def change_password(
    conn: asyncpg.Connection, actor: Actor, user_id: int, current: str, new: str
) -> None:
    """A user's new password, given their current one (so that a session left open on a
    shared PC is not enough to take the account over)."""
    row = await conn.fetchrow(
        "SELECT email, password_hash FROM app_user WHERE id = $1 FOR UPDATE", user_id
    )
    if row is None:
        raise NotFound("user", user_id)
    if not await verify_password(row["password_hash"], current[:MAX_PASSWORD]):
        raise ValidationFailed.one("current_password", "this is not your current password")
    problems = password_problems(new, row["email"])
    if not problems and new == current:
        problems = ["the new password must differ from the current one"]
    if problems:
        raise ValidationFailed(FieldProblem("new_password", p) for p in problems)
    await conn.execute(
        "UPDATE app_user SET password_hash = $2 WHERE id = $1", user_id, await hash_password(new)
    )
    await audit.record(conn, actor, "user", user_id, "password_changed")


async def set_password(conn: asyncpg.Connection, actor: Actor, user_id: int, new: str) -> None:
    """An admin's reset of a forgotten password: the user's sessions end, and a wait after
    failed sign-ins is lifted."""
    user = await _locked(conn, user_id)
    problems = password_problems(new, user.email)
    if problems:
        raise ValidationFailed(FieldProblem("password", p) for p in problems)
    await conn.execute(
        "UPDATE app_user SET password_hash = $2, failed_sign_ins = 0, locked_until = NULL"
        " WHERE id = $1",
        user_id,
        await hash_password(new),
    )
    await audit.record(conn, actor, "user", user_id, "password_reset")
    await end_user_sessions(conn, user_id)


async def end_user_sessions(
    conn: asyncpg.Connection, user_id: int, *, keep_session: int | None = None
) -> int:
    """End a user's sessions (but ``keep_session``, the one that asked); returns how many."""
    keep = keep_session or 0
    await conn.execute(
        "DELETE FROM saved_search WHERE session_id IN"
        " (SELECT id FROM user_session WHERE user_id = $1 AND id <> $2)",
        user_id,
        keep,
    )
    result = await conn.execute(
        "UPDATE user_session SET ended_at = now()"
        " WHERE user_id = $1 AND id <> $2 AND ended_at IS NULL",
        user_id,
        keep,
    )
    return int(result.split()[-1])


# --- signing in ----------------------------------------------------------------------


def wait_after(failures: int) -> int:
    """Seconds an account waits after ``failures`` failed sign-ins in a row: none for the
    first few, then 30 s, doubling with each further failure, at most an hour."""
    if failures < FREE_FAILURES:
        return 0
    wait: int = FIRST_WAIT_SECONDS * 2 ** (failures - FREE_FAILURES)
    return min(wait, MAX_WAIT_SECONDS)


_ANONYMOUS = Actor(name="sign-in", role="anonymous")


async def sign_in(
    conn: asyncpg.Connection, email: str, password: str, request_id: str | None = None
) -> User | None:
    """The user whose e-mail and password these are, or None (which of the two was wrong is
    never told, and an unknown e-mail costs the time a wrong password does).

    An account that failed ``FREE_FAILURES`` times in a row waits before it may try again;
    each failure is an event on the account.
    """
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS}, password_hash, COALESCE(locked_until > now(), false) AS waiting"
        " FROM app_user WHERE lower(email) = lower($1) FOR UPDATE",
        email.strip()[:254],
    )
    password = password[:MAX_PASSWORD]
    if row is None:
        await verify_password(stand_in_hash(), password)
        # Recorded too (without the address tried): a run of these is someone guessing
        # accounts, and the write costs what a known account's failure costs.
        await audit.record(
            conn,
            Actor(_ANONYMOUS.name, _ANONYMOUS.role, request_id),
            "user",
            0,
            "sign_in_failed",
            after={"reason": "unknown_account"},
        )
        return None
    user = _user(row)
    matches = await verify_password(row["password_hash"], password)
    if matches and user.active and not row["waiting"]:
        if needs_rehash(row["password_hash"]):
            await conn.execute(
                "UPDATE app_user SET password_hash = $2 WHERE id = $1",
                user.id,
                await hash_password(password),
            )
        user = await _update(
            conn,
            user.actor(request_id),
            user,
            "signed_in",
            "failed_sign_ins = 0, locked_until = NULL, last_sign_in_at = now()",
        )
        return user
    reason = "disabled" if not user.active else ("waiting" if row["waiting"] else "password")
    failures = user.failed_sign_ins + (0 if matches else 1)
    await conn.execute(
        "UPDATE app_user SET failed_sign_ins = $2,"
        " locked_until = CASE WHEN $3::int > 0 THEN now() + make_interval(secs => $3::int)"
        " ELSE locked_until END WHERE id = $1",
        user.id,
        failures,
        wait_after(failures) if not matches else 0,
    )
    await audit.record(
        conn,
        Actor(_ANONYMOUS.name, _ANONYMOUS.role, request_id),
        "user",
        user.id,
        "sign_in_failed",
        after={"reason": reason, "failed_sign_ins": failures, "wait_seconds": wait_after(failures)},
    )
    return None


# --- a user's own API tokens -----------------------------------------------------------


def token_roles_for(role: str) -> tuple[str, ...]:
    """The roles a user may give a token: an admin any role; anyone else only their own
    (the other roles are not ranked: none of them holds all the rights of another)."""
    return tuple(Role) if role == Role.ADMIN else (role,)


_TOKEN_COLUMNS = "id, name, role, created_by, created_at, last_used_at, revoked_at"  # noqa: S105


async def list_own_tokens(conn: asyncpg.Connection, user_id: int) -> list[auth.TokenInfo]:
    rows = await conn.fetch(
        f"SELECT {_TOKEN_COLUMNS} FROM api_token WHERE owner_user_id = $1"
        " ORDER BY revoked_at IS NOT NULL, id DESC",
        user_id,
    )
    return [auth.TokenInfo(**dict(r)) for r in rows]


async def create_own_token(
    conn: asyncpg.Connection, actor: Actor, user: User, name: str, role: str
) -> auth.NewToken:
    if role not in token_roles_for(user.role):
        raise ValidationFailed.one(
            "role", f"a token may have the role {', '.join(token_roles_for(user.role))}"
        )
    try:
        new = await auth.create_token(conn, actor, name, role)
    except Conflict:
        # Token names are unique across everyone's: say so without naming the other's id.
        raise Conflict(
            "a token with this name already exists: choose another name", field="name"
        ) from None
    await conn.execute(
        "UPDATE api_token SET owner_user_id = $2 WHERE id = $1", new.info.id, user.id
    )
    return new


async def revoke_own_token(
    conn: asyncpg.Connection, actor: Actor, user: User, token_id: int
) -> auth.TokenInfo:
    owner = await conn.fetchval("SELECT owner_user_id FROM api_token WHERE id = $1", token_id)
    if owner != user.id:
        # Someone else's token, or none: the same answer, so ids cannot be probed.
        raise NotFound("token", token_id)
    return await auth.revoke_token(conn, actor, token_id)
