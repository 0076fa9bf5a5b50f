"""The ``fleetsvc`` command: serve, db migrate, tokens, and the bulk jobs."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import threading

import click


def _interrupted_while_loading(signum: int, frame: object) -> None:
    sys.exit(128 + signum)


# Ctrl-C while the commands are still being imported (a third of a second, more on a busy
# machine) ends the program quietly, as it does once a command runs, not with a traceback
# of the imports. Python's own handler is back once they are loaded (end of this module).
_LOADING = threading.current_thread() is threading.main_thread()
if _LOADING:
    signal.signal(signal.SIGINT, _interrupted_while_loading)

from fleetsvc.commands.common import (  # noqa: E402 - after the handler above, on purpose
    check_jobs,
    cli_actor,
    fail,
    load,
    ready_database,
    run_with_database,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fleetsvc")
def main() -> None:
    """fleetsvc: the register of a police force's mobile device fleet."""


@main.command()
@click.option("--host", default=None, help="Interface to listen on (FLEETSVC_HOST).")
@click.option("--port", type=int, default=None, help="Port (FLEETSVC_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Apply migrations and serve the API, with FLEETSVC_WORKERS job workers beside it.

    SIGTERM or Ctrl-C stops it gracefully, with exit status 0.
    """
    # A stop asked for while the database is being prepared ends the process with exit
    # status 0 and its exit hooks run (the embedded PostgreSQL is stopped by one).
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _stop)
    settings = load()
    check_jobs(settings)
    from fleetsvc.logs import get_logger

    host = host or settings.host
    port = port or settings.port
    _check_can_listen(host, port)
    asyncio.run(ready_database(settings))
    import uvicorn

    get_logger("fleetsvc").info(
        "serving", url=f"http://{host}:{port}", docs=f"http://{host}:{port}/schema"
    )
    # uvicorn shuts down gracefully on SIGTERM or SIGINT, then raises the signal again with
    # ``_stop`` back in place. The default handler would end the process without running
    # exit hooks, and the embedded PostgreSQL (stopped by one) would be left running; and a
    # stop the server was asked for is a clean exit, not 128 + the signal ("Error 143").
    uvicorn.run(
        "api.app:create_served_app",
        factory=True,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        loop="auto",
        http="auto",
    )


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _check_can_listen(host: str, port: int) -> None:
    """Stop now, in one line, if the server cannot listen there (an unknown host, a port
    in use); uvicorn would only log the bare OS error after preparing the database."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        fail(
            f"cannot listen on {host}:{port} (FLEETSVC_HOST, FLEETSVC_PORT): {exc.strerror or exc}"
        )


@main.group()
def db() -> None:
    """Database commands."""


@db.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations (safe to run twice, or from two processes)."""
    settings = load()
    applied = asyncio.run(ready_database(settings))
    click.echo(f"applied {len(applied)} migration(s)" if applied else "database is up to date")


@main.group()
def tokens() -> None:
    """Create, list and revoke API tokens."""


@tokens.command("create")
@click.option("--name", required=True, help="Who or what will use the token.")
@click.option("--role", required=True, help="admin, engineer, stores, finance, mdm or auditor.")
def tokens_create(name: str, role: str) -> None:
    """Create a token and print it once."""
    settings = load()
    from db.engine import transaction
    from fleetsvc import auth

    async def job() -> auth.NewToken:
        async with transaction() as conn:
            return await auth.create_token(conn, cli_actor(), name, role)

    new = run_with_database(settings, job)
    click.echo(new.token)
    click.echo(
        f"token {new.info.name!r} (role {new.info.role}, id {new.info.id}) created; "
        "it is shown only once",
        err=True,
    )


@tokens.command("list")
def tokens_list() -> None:
    """List tokens (never their values)."""
    settings = load()
    from db.engine import connection
    from fleetsvc import auth

    async def job() -> list[auth.TokenInfo]:
        async with connection() as conn:
            return await auth.list_tokens(conn)

    rows = run_with_database(settings, job)
    click.echo(f"{'id':>4}  {'name':<30} {'role':<9} {'last used':<20} revoked")
    for t in rows:
        used = t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "-"
        revoked = t.revoked_at.strftime("%Y-%m-%d %H:%M") if t.revoked_at else "-"
        click.echo(f"{t.id:>4}  {t.name:<30} {t.role:<9} {used:<20} {revoked}")


@tokens.command("revoke")
@click.argument("token")
def tokens_revoke(token: str) -> None:
    """Revoke a token by id or name."""
    settings = load()
    from db.engine import transaction
    from fleetsvc import auth
    from fleetsvc.records import MAX_ID

    key: int | str = int(token) if token.isascii() and token.isdigit() else token
    if isinstance(key, int) and not 1 <= key <= MAX_ID:
        fail(f"no token with id {token}", code=1)  # beyond any id the database can hold

    async def job() -> auth.TokenInfo:
        async with transaction() as conn:
            return await auth.revoke_token(conn, cli_actor(), key)

    info = run_with_database(settings, job)
    click.echo(f"token {info.name!r} revoked")


def _attach_commands() -> None:
    from fleetsvc.commands import register

    register(main)


_attach_commands()
if _LOADING:
    signal.signal(signal.SIGINT, signal.default_int_handler)
