"""Sessions: a page view within a minute of the last is a read, not a write (most views cost
no durable commit), yet the idle timeout, sign-out and a waiting message still hold."""

from __future__ import annotations

from db.engine import connection, transaction
from fleetsvc import sessions
from fleetsvc.auth import Actor
from fleetsvc.users import create_user
from tests.conftest import unique


async def _session() -> tuple[int, str]:
    async with transaction() as conn:
        user = await create_user(
            conn,
            Actor("tests", "admin"),
            f"{unique('s').lower()}@force.example",
            "stores",
            "correct horse battery staple",
        )
        made = await sessions.start_session(conn, user.id)
    return user.id, made.cookie_value


async def _last_seen(user_id: int) -> object:
    async with connection() as conn:
        return await conn.fetchval(
            "SELECT last_seen_at FROM user_session WHERE user_id = $1", user_id
        )


async def test_a_recent_session_is_read_without_a_write(app: object) -> None:
    user_id, cookie = await _session()
    async with connection() as conn:
        await conn.execute(
            "UPDATE user_session SET last_seen_at = now() - interval '20 seconds'"
            " WHERE user_id = $1",
            user_id,
        )
    before = await _last_seen(user_id)
    async with connection() as conn:
        found = await sessions.session_user(conn, cookie, 30)
    assert found is not None and found.user_id == user_id
    assert await _last_seen(user_id) == before


async def test_an_older_touch_is_renewed_and_a_message_is_taken_once(app: object) -> None:
    user_id, cookie = await _session()
    async with connection() as conn:
        await conn.execute(
            "UPDATE user_session SET last_seen_at = now() - interval '5 minutes'"
            " WHERE user_id = $1",
            user_id,
        )
    before = await _last_seen(user_id)
    async with connection() as conn:
        assert await sessions.session_user(conn, cookie, 30) is not None
    assert await _last_seen(user_id) != before
    async with connection() as conn:
        found = await sessions.session_user(conn, cookie, 30)
        assert found is not None
        await sessions.set_flash(conn, found.session_id, sessions.Flash("ok", "done"))
        shown = await sessions.session_user(conn, cookie, 30)
        again = await sessions.session_user(conn, cookie, 30)
    assert shown is not None and shown.flash == sessions.Flash("ok", "done")
    assert again is not None and again.flash is None


async def test_an_ended_or_idle_session_is_none_even_when_recent(app: object) -> None:
    _, cookie = await _session()
    async with connection() as conn:
        found = await sessions.session_user(conn, cookie, 30)
        assert found is not None
        await sessions.end_session(conn, found.session_id)
        assert await sessions.session_user(conn, cookie, 30) is None
    other_id, other = await _session()
    async with connection() as conn:
        await conn.execute(
            "UPDATE user_session SET last_seen_at = now() - interval '31 minutes'"
            " WHERE user_id = $1",
            other_id,
        )
        assert await sessions.session_user(conn, other, 30) is None
