"""`fleetsvc people pseudonymise`: retention's command (the daily job runs the same)."""

from __future__ import annotations

import click

from fleetsvc.commands.common import cli_actor, fail, load, run_with_database


def register(main: click.Group) -> None:
    """Attach this module's command(s) to ``main``."""
    main.add_command(people)


@click.group()
def people() -> None:
    """People the service holds."""


@people.command("pseudonymise")
@click.option(
    "--due",
    is_flag=True,
    help="Every leaver past FLEETSVC_LEAVER_RETENTION_DAYS whose recovery case is closed.",
)
@click.option(
    "--person",
    "person_id",
    type=int,
    default=None,
    metavar="ID",
    help="One leaver now, whatever their leaving date (an erasure request; as an admin).",
)
def pseudonymise(due: bool, person_id: int | None) -> None:
    """Replace leavers' names, UPNs and employee numbers by a pseudonym, everywhere."""
    from fleetsvc.subject_access import retention

    if due == (person_id is not None):
        fail("give either --due or --person ID")
    settings = load()
    actor = cli_actor()

    async def job() -> retention.Pseudonymised:
        if person_id is not None:
            return await retention.pseudonymise_person(actor, person_id)
        return await retention.pseudonymise_due(actor, settings.leaver_retention_days)

    done = run_with_database(settings, job)
    click.echo(
        f"{done.people} {'person' if done.people == 1 else 'people'} pseudonymised;"
        f" {done.values_erased} personal values erased from the audit trail"
    )
