"""User accounts in the domain and on the command line: passwords, roles, the last admin,
and events that name a user by id, never by e-mail."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from db.engine import transaction
from fleetsvc import auth, passwords, users
from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict, ValidationFailed
from fleetsvc.vocabulary import Role

ACTOR = Actor("tests", Role.ADMIN)
GOOD = "mauve ladder quietly sings"
FLEETSVC = str(Path(sys.executable).parent / "fleetsvc")


def _email() -> str:
    return f"u.{uuid.uuid4().hex[:10]}@force.example"


class Rollback(Exception):
    pass


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short", "at least 12 characters"),
        ("password1234", "too easy to guess"),
        ("aaaaaaaaaaaaaaaa", "too easy to guess"),
        ("jo.bloggs-2026-ok", "must not contain the e-mail address"),
        ("x" * 257, "at most 256"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, why: str) -> None:
    problems = passwords.password_problems(password, "jo.bloggs@force.example")
    assert problems and why in problems[0]


def test_a_long_unrelated_password_will_do() -> None:
    assert passwords.password_problems(GOOD, "jo.bloggs@force.example") == []


def test_token_roles_an_admin_any_others_their_own() -> None:
    assert users.token_roles_for(Role.ADMIN) == tuple(Role)
    for role in tuple(Role)[1:]:
        assert users.token_roles_for(role) == (role,)


async def test_passwords_are_stored_as_argon2id_hashes(app: object) -> None:
    async with transaction() as conn:
        user = await users.create_user(conn, ACTOR, _email(), Role.STORES, GOOD)
        stored = await conn.fetchval("SELECT password_hash FROM app_user WHERE id = $1", user.id)
    assert stored.startswith("$argon2id$") and GOOD not in stored


async def test_changing_a_role_revokes_tokens_the_new_role_may_not_make(app: object) -> None:
    async with transaction() as conn:
        user = await users.create_user(conn, ACTOR, _email(), Role.ADMIN, GOOD)
        await auth.create_token(conn, ACTOR, f"another-admin-{user.id}", Role.ADMIN)
        me = user.actor()
        keep = await users.create_own_token(conn, me, user, f"keep-{user.id}", Role.STORES)
        drop = await users.create_own_token(conn, me, user, f"drop-{user.id}", Role.ADMIN)
        await users.change_role(conn, ACTOR, user.id, Role.STORES)
        tokens = {t.name: t for t in await users.list_own_tokens(conn, user.id)}
    assert tokens[keep.info.name].revoked_at is None
    assert tokens[drop.info.name].revoked_at is not None


async def test_disabling_revokes_the_users_tokens(app: object) -> None:
    async with transaction() as conn:
        user = await users.create_user(conn, ACTOR, _email(), Role.MDM, GOOD)
        new = await users.create_own_token(conn, user.actor(), user, f"sync-{user.id}", Role.MDM)
        await users.disable_user(conn, ACTOR, user.id)
    assert await auth.verify_token(new.token, 0) is None


async def test_the_last_admin_credential_stays(app: object) -> None:
    """Disabling or demoting the last admin user is refused while no other admin credential
    (an active admin user or an unrevoked admin token) remains; with one, it is allowed."""
    with pytest.raises(Rollback):
        async with transaction() as conn:
            await conn.execute("UPDATE app_user SET active = false WHERE role = 'admin'")
            await conn.execute("UPDATE api_token SET revoked_at = now() WHERE role = 'admin'")
            last = await users.create_user(conn, ACTOR, _email(), Role.ADMIN, GOOD)
            for change in (
                users.disable_user(conn, ACTOR, last.id),
                users.change_role(conn, ACTOR, last.id, Role.AUDITOR),
            ):
                with pytest.raises(Conflict, match="last admin"):
                    async with conn.transaction():
                        await change
            # An admin token (not the user's own) is another admin credential.
            await auth.create_token(conn, ACTOR, f"break-glass-{last.id}", Role.ADMIN)
            assert (await users.change_role(conn, ACTOR, last.id, Role.AUDITOR)).role == "auditor"
            raise Rollback


async def test_events_name_the_user_by_id_not_email(app: object) -> None:
    email = _email()
    async with transaction() as conn:
        user = await users.create_user(conn, ACTOR, email, Role.FINANCE, GOOD)
        assert await users.sign_in(conn, email, "wrong password here") is None
        assert (await users.sign_in(conn, email.upper(), GOOD)) is not None
        await users.disable_user(conn, ACTOR, user.id)
        rows = await conn.fetch(
            "SELECT action, actor_name, before::text, after::text FROM event"
            " WHERE entity = 'user' AND entity_id = $1 ORDER BY id",
            user.id,
        )
    assert [r["action"] for r in rows] == ["created", "sign_in_failed", "signed_in", "disabled"]
    assert rows[2]["actor_name"] == f"user:{user.id}"
    for r in rows:
        assert email.split("@")[0] not in f"{r['actor_name']} {r['before']} {r['after']}"


async def test_a_bad_email_or_role_is_named(app: object) -> None:
    async with transaction() as conn:
        with pytest.raises(ValidationFailed) as caught:
            await users.create_user(conn, ACTOR, "nobody", "root", "short")
    assert {p.field for p in caught.value.problems} == {"email", "role", "password"}


def _cli(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLEETSVC, "users", *args],
        input=stdin,
        env={**os.environ, "DATABASE_URL": database_url, "FLEETSVC_LOG_LEVEL": "warning"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_users_on_the_command_line(database_url: str) -> None:
    email = _email()
    weak = _cli(
        database_url,
        "create",
        "--email",
        email,
        "--role",
        "stores",
        "--password-stdin",
        stdin="short\n",
    )
    assert weak.returncode == 2
    assert "password refused: a password needs at least 12 characters" in weak.stderr
    no_flag = _cli(database_url, "create", "--email", email, "--role", "stores", stdin=GOOD)
    assert no_flag.returncode == 2 and "--password-stdin" in no_flag.stderr
    made = _cli(
        database_url,
        "create",
        "--email",
        email,
        "--role",
        "stores",
        "--password-stdin",
        stdin=GOOD + "\n",
    )
    assert made.returncode == 0, made.stderr
    assert "created with role stores" in made.stdout and GOOD not in made.stdout + made.stderr
    again = _cli(
        database_url,
        "create",
        "--email",
        email.upper(),
        "--role",
        "stores",
        "--password-stdin",
        stdin=GOOD,
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    listed = _cli(database_url, "list")
    line = next(x for x in listed.stdout.splitlines() if email in x)
    assert "stores" in line and "active" in line
    disabled = _cli(database_url, "disable", email)
    assert disabled.returncode == 0 and "disabled" in disabled.stdout
    assert email not in disabled.stdout  # the id, not the address
    assert "disabled" in next(
        x for x in _cli(database_url, "list").stdout.splitlines() if email in x
    )
    missing = _cli(database_url, "disable", "nobody@force.example")
    assert missing.returncode == 1 and "no user has that e-mail address" in missing.stderr


def test_a_forgotten_password_is_set_on_the_command_line(database_url: str) -> None:
    email = _email()
    assert (
        _cli(
            database_url,
            "create",
            "--email",
            email,
            "--role",
            "mdm",
            "--password-stdin",
            stdin=GOOD,
        ).returncode
        == 0
    )
    weak = _cli(database_url, "set-password", email, "--password-stdin", stdin="password1234")
    assert weak.returncode == 2 and "too easy to guess" in weak.stderr
    done = _cli(
        database_url, "set-password", email, "--password-stdin", stdin="olive tram at dawn again"
    )
    assert done.returncode == 0 and "has a new password" in done.stdout
