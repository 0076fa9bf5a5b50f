"""Pages over ASGI: real users, real sign-in through the form, real sessions; and for the
browser tests, one live service and one Chromium that all their modules share."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no form token on the page"
    return found.group(1)


@dataclass
class Account:
    id: int
    email: str
    role: str
    password: str = PASSWORD


AccountFactory = Callable[[str], Awaitable[Account]]


@pytest.fixture(scope="session")
async def make_account(app: object) -> AccountFactory:
    from db.engine import transaction
    from fleetsvc.auth import Actor
    from fleetsvc.users import create_user

    async def make(role: str) -> Account:
        email = f"{role}.{uuid.uuid4().hex[:8]}@force.example"
        async with transaction() as conn:
            user = await create_user(conn, Actor("tests", "admin"), email, role, PASSWORD)
        return Account(user.id, email, role)

    return make


def page_client(app: object, scheme: str = "http") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url=f"{scheme}://fleetsvc.test")


async def sign_in(client: httpx.AsyncClient, account: Account, next_: str = "/") -> httpx.Response:
    form = await client.get("/sign-in", params={"next": next_})
    assert form.status_code == 200, form.text
    return await client.post(
        "/sign-in",
        data={
            "csrf_token": csrf_of(form.text),
            "email": account.email,
            "password": account.password,
            "next": next_,
        },
    )


@dataclass
class SignedIn:
    client: httpx.AsyncClient
    account: Account

    async def csrf(self) -> str:
        return csrf_of((await self.client.get("/account")).text)

    async def post(self, url: str, data: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(url, data={"csrf_token": await self.csrf(), **(data or {})})


SignedInFactory = Callable[[str], Awaitable[SignedIn]]


@pytest.fixture(scope="session")
async def signed_in_as(app: object, make_account: AccountFactory) -> AsyncIterator[SignedInFactory]:
    """``await signed_in_as("stores")``: a fresh account of that role, signed in."""
    clients: list[httpx.AsyncClient] = []

    async def make(role: str) -> SignedIn:
        account = await make_account(role)
        client = page_client(app)
        clients.append(client)
        r = await sign_in(client, account)
        assert r.status_code == 303, r.text
        return SignedIn(client, account)

    yield make
    for c in clients:
        await c.aclose()


@pytest.fixture(scope="session")
def service(database_url: str) -> Iterator[str]:
    """``fleetsvc serve`` on the test database, started once for every browser test (each
    makes its own accounts and rows, as the ASGI tests do): its base URL."""
    from tests.web.browser import live_service

    with live_service(database_url) as base:
        yield base


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """Headless Chromium, launched once; each test opens a context of its own in it."""
    from playwright.async_api import async_playwright

    from tests.web.browser import CHROMIUM, CHROMIUM_ARGS

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        await b.close()
