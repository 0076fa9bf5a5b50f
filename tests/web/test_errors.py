"""Every error a page can meet is a page in the users' words (the API keeps problem JSON)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from litestar import Request

from api.app import answer_exception
from fleetsvc.errors import StaleVersion, TransitionRefused
from tests.web.conftest import SignedInFactory, page_client


def _request(
    app: Any, path: str, method: str = "POST", referer: str | None = None
) -> Request[Any, Any, Any]:
    headers = [(b"host", b"fleetsvc.test")]
    if referer:
        headers.append((b"referer", referer.encode()))
    return Request(
        {  # type: ignore[arg-type]
            "type": "http",
            "app": app,
            "litestar_app": app,
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "method": method,
            "headers": headers,
            "query_string": b"",
            "scheme": "http",
            "server": ("fleetsvc.test", 80),
            "state": {"request_id": "req-1"},
            "path_params": {},
        }
    )


def _is_page(r: Any, status: int) -> None:
    assert r.status_code == status
    assert r.headers["content-type"].startswith("text/html"), r.headers["content-type"]
    assert "Traceback" not in r.text and '"type": "urn:' not in r.text


async def test_an_unknown_page_is_a_404_page(app: object, signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("stores")
    r = await me.client.get("/no/such/page")
    _is_page(r, 404)
    assert "Not found" in r.text and "nothing at this address" in r.text
    r = await me.client.get("/users/999999999")  # a role that may not: 403 before the lookup
    _is_page(r, 403)
    admin = await signed_in_as("admin")
    r = await admin.client.get("/users/999999999")
    _is_page(r, 404)
    assert "No user with id 999999999." in r.text


async def test_the_api_still_answers_problem_json(app: object) -> None:
    async with page_client(app) as c:
        r = await c.get("/api/v1/no-such-thing")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_a_method_a_page_does_not_take_is_a_405_page(
    signed_in_as: SignedInFactory,
) -> None:
    me = await signed_in_as("engineer")
    r = await me.client.get("/sign-out")
    _is_page(r, 405)
    assert "can’t be used that way" in r.text


async def test_a_huge_form_is_a_413_page_that_says_the_limit(
    signed_in_as: SignedInFactory,
) -> None:
    me = await signed_in_as("engineer")
    token = await me.csrf()
    r = await me.client.post(
        "/account/tokens", data={"csrf_token": token, "name": "x" * (6 * 1024 * 1024)}
    )
    _is_page(r, 413)
    assert "files of up to 50 MiB and forms of up to 5 MiB" in r.text


async def test_form_errors_are_shown_beside_their_fields(signed_in_as: SignedInFactory) -> None:
    admin = await signed_in_as("admin")
    r = await admin.post(
        "/users", {"email": "not-an-address", "role": "admin", "password": "short"}
    )
    _is_page(r, 422)
    assert 'id="field-email-error"' in r.text and 'id="field-password-error"' in r.text
    assert 'aria-invalid="true"' in r.text
    assert "A password needs at least 12 characters (this one has 5)." in r.text
    assert "short" not in r.text.split('id="field-password"')[1][:200]  # never echoed back
    assert 'value="not-an-address"' in r.text  # what they typed, to correct


async def test_the_last_admin_cannot_be_disabled_a_409_page(
    signed_in_as: SignedInFactory,
) -> None:
    from db.engine import transaction

    admin = await signed_in_as("admin")
    async with transaction() as conn:
        # Every other admin credential gone, for this test's transaction only: see below.
        others = await conn.fetch(
            "SELECT id FROM app_user WHERE role = 'admin' AND active AND id <> $1", admin.account.id
        )
        tokens = await conn.fetch(
            "SELECT id FROM api_token WHERE role = 'admin' AND revoked_at IS NULL"
        )
        await conn.execute(
            "UPDATE app_user SET active = false WHERE id = ANY($1::int[])",
            [r["id"] for r in others],
        )
        await conn.execute(
            "UPDATE api_token SET revoked_at = now() WHERE id = ANY($1::int[])",
            [r["id"] for r in tokens],
        )
    try:
        r = await admin.post(f"/users/{admin.account.id}/disable")
        _is_page(r, 409)
        assert "This is the last admin: make another admin first" in r.text
        r = await admin.post(f"/users/{admin.account.id}/role", {"role": "auditor"})
        _is_page(r, 409)
    finally:
        async with transaction() as conn:
            await conn.execute(
                "UPDATE app_user SET active = true WHERE id = ANY($1::int[])",
                [r["id"] for r in others],
            )
            await conn.execute(
                "UPDATE api_token SET revoked_at = NULL WHERE id = ANY($1::int[])",
                [r["id"] for r in tokens],
            )


@pytest.mark.parametrize(
    ("exc", "status", "words"),
    [
        (StaleVersion("asset", 5, 4), 412, "Someone changed this since you opened it"),
        (TransitionRefused("deployed", "disposed", ["in_stock"]), 409, "can’t be done now"),
        (asyncpg.PostgresConnectionError("gone"), 503, "not reachable just now"),
        (RuntimeError("a bug"), 500, "Something went wrong on our side"),
    ],
)
def test_errors_a_page_can_meet_are_worded_for_people(
    app: Any, exc: Exception, status: int, words: str
) -> None:
    page = answer_exception(
        _request(app, "/devices/5/moves", referer="http://fleetsvc.test/devices/5"), exc
    )
    assert page.status_code == status
    ctx = page.context  # type: ignore[attr-defined]
    assert words in ctx["heading"]
    assert ctx["reference"] == "req-1"
    if status == 412:
        assert ctx["reload"] == "/devices/5"  # back to the page, to see the change
    if status == 503:
        assert page.headers["Retry-After"] == "5"
    api = answer_exception(_request(app, "/api/v1/assets/5/transitions"), exc)
    assert api.status_code == status and api.media_type == "application/problem+json"
