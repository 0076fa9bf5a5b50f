"""`fleetsvc audit verify`: walk the audit trail's hash chain and name the first event that
does not match."""

from __future__ import annotations

import click

from fleetsvc.commands.common import fail, load, run_with_database


def register(main: click.Group) -> None:
    """Attach this module's command(s) to ``main``."""
    main.add_command(audit)


@click.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
@click.option(
    "--anchor",
    default=None,
    metavar="HASH",
    help="A head hash an earlier check printed: the chain must still pass through it.",
)
def verify(anchor: str | None) -> None:
    """Check every event against the hash chain (exit 1 at the first that does not match)."""
    from fleetsvc.audit_chain import ChainReport, parse_anchor, verify_chain

    wanted = None
    if anchor is not None:
        wanted = parse_anchor(anchor)
        if wanted is None:
            fail("--anchor must be a head hash as a check prints it: 64 hex digits")
    settings = load()

    async def job() -> ChainReport:
        from db.engine import connection

        async with connection() as conn:
            return await verify_chain(conn, anchor=wanted)

    report = run_with_database(settings, job)
    if not report.ok:
        fail(report.summary(), code=1)
    click.echo(report.summary())
