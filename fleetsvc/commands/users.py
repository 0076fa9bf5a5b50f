"""`fleetsvc users`: the accounts people sign in to the pages with.

A password is read from standard input (typed at a hidden prompt, or piped), never from
the command line, where other users of the machine and the shell's history would see it.
"""

from __future__ import annotations

import sys

import click

from fleetsvc.commands.common import cli_actor, fail, load, run_with_database
from fleetsvc.pagination import PageRequest
from fleetsvc.passwords import password_problems
from fleetsvc.vocabulary import Role


def register(main: click.Group) -> None:
    """Attach this module's command(s) to ``main``."""
    main.add_command(users)


@click.group()
def users() -> None:
    """Create, list and disable the accounts people sign in to the pages with."""


def _read_password() -> str:
    if sys.stdin.isatty():
        value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return value
    line = sys.stdin.readline()
    if not line:
        fail("no password on standard input (pipe it in, or run this at a terminal)")
    return line.rstrip("\r\n")


@users.command("create")
@click.option("--email", required=True, help="The address the person signs in with.")
@click.option(
    "--role", required=True, type=click.Choice([str(r) for r in Role]), help="One of the six roles."
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (required: never give it as an argument).",
)
def users_create(email: str, role: str, password_stdin: bool) -> None:
    """Create an account (the password: at least 12 characters, not an easy one)."""
    from fleetsvc import users as service

    if not password_stdin:
        fail("give --password-stdin and type or pipe the password")
    password = _read_password()
    problems = password_problems(password, email)
    if problems:
        fail(f"password refused: {'; '.join(problems)}")
    settings = load()
    from db.engine import transaction

    async def job() -> service.User:
        async with transaction() as conn:
            return await service.create_user(conn, cli_actor(), email, role, password)

    user = run_with_database(settings, job)
    click.echo(f"user {user.id} created with role {user.role}; they can sign in at /sign-in")


@users.command("list")
def users_list() -> None:
    """List accounts (never their passwords)."""
    from fleetsvc import users as service

    settings = load()
    from db.engine import connection

    async def job() -> list[service.User]:
        found: list[service.User] = []
        page = PageRequest(limit=1000)
        async with connection() as conn:
            while True:
                got = await service.list_users(conn, page)
                found.extend(got.items)
                if got.next_cursor is None or not got.items:
                    return found
                page = PageRequest(limit=1000, after_id=got.items[-1].id)

    rows = run_with_database(settings, job)
    click.echo(f"{'id':>4}  {'e-mail':<40} {'role':<9} {'state':<9} last sign-in")
    for u in rows:
        state = "active" if u.active else "disabled"
        last = u.last_sign_in_at.strftime("%Y-%m-%d %H:%M") if u.last_sign_in_at else "-"
        click.echo(f"{u.id:>4}  {u.email:<40} {u.role:<9} {state:<9} {last}")


@users.command("disable")
@click.argument("email")
def users_disable(email: str) -> None:
    """Disable an account: its sessions end and the API tokens it made are revoked."""
    from fleetsvc import users as service

    settings = load()
    from db.engine import transaction

    async def job() -> service.User:
        async with transaction() as conn:
            user = await service.find_user(conn, email)
            return await service.disable_user(conn, cli_actor(), user.id)

    user = run_with_database(settings, job)
    click.echo(f"user {user.id} disabled; their sessions have ended")


@users.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
def users_set_password(email: str, password_stdin: bool) -> None:
    """Give an account a new password (a forgotten one); its sessions end."""
    from fleetsvc import users as service

    if not password_stdin:
        fail("give --password-stdin and type or pipe the new password")
    password = _read_password()
    problems = password_problems(password, email)
    if problems:
        fail(f"password refused: {'; '.join(problems)}")
    settings = load()
    from db.engine import transaction

    async def job() -> int:
        async with transaction() as conn:
            user = await service.find_user(conn, email)
            await service.set_password(conn, cli_actor(), user.id, password)
            return user.id

    user_id = run_with_database(settings, job)
    click.echo(f"user {user_id} has a new password; their sessions have ended")
