"""The demo's story, in order: the reference records and procurement, the supplier files
imported, then the fleet put in service. Each step is done once (``provenance``): a second
run changes nothing, and a run an outage stopped carries on from the step it was in.

Every record goes through the domain's own checks; a register that already holds a fleet
gets the demo's beside it. A clash the demo cannot step around (a contract reference or an
order number already used) stops it before it has written anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Final

from db.engine import connection, transaction
from fleetsvc.auth import Actor
from fleetsvc.demo import deliveries, fleet, provenance
from fleetsvc.demo.files import babcock_file, cdw_file, vodafone_file
from fleetsvc.demo.procurement import load_procurement
from fleetsvc.demo.reference import load_reference
from fleetsvc.demo.shape import (
    CDW_PO,
    FULL,
    HANDSET_PO_2021,
    HANDSET_PO_2022,
    DemoSize,
)
from fleetsvc.errors import Conflict

Progress = Callable[[str], None]

REFERENCE: Final = "reference records and procurement"
VODAFONE_2021: Final = "vodafone-despatch-2021.csv"
VODAFONE_2022: Final = "vodafone-despatch-2022.csv"
CDW_2021: Final = "cdw-asn-2021.csv"
BABCOCK_2021: Final = "babcock-install-2021.csv"
FILES: Final = (VODAFONE_2021, VODAFONE_2022, CDW_2021, BABCOCK_2021)
HANDSETS: Final = "handsets issued"
SPARES: Final = "spare tablets to special constables"
NETMOTION: Final = "NetMotion seats"
STEPS: Final = (REFERENCE, *(deliveries.step_of(f) for f in FILES), HANDSETS, SPARES, NETMOTION)


@dataclass
class DemoSummary:
    """What a run did: ``already_loaded`` when every step was done before it."""

    already_loaded: bool = False
    resumed: bool = False  # an earlier run had done some of the steps
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _quiet(_message: str) -> None:
    return None


async def load_demo(
    actor: Actor, progress: Progress | None = None, size: DemoSize = FULL
) -> DemoSummary:
    """Load the demo fleet, each step once; running it again changes nothing."""
    say = progress or _quiet
    summary = DemoSummary()
    async with connection() as conn:
        done = await provenance.steps_done(conn)
    if done >= set(STEPS):
        summary.already_loaded = True
        return summary
    summary.resumed = bool(done)
    await _reference(actor, size, say, summary)
    await _deliveries(actor, size, say, summary)
    await _in_service(actor, say, summary)
    return summary


async def _reference(actor: Actor, size: DemoSize, say: Progress, summary: DemoSummary) -> None:
    async with transaction() as conn:
        if not await provenance.begin_step(conn, REFERENCE):
            return
        say("business units, people, vehicles and device models")
        try:
            ref = await load_reference(conn, actor, size)
            say("suppliers, contracts and purchase orders")
            proc = await load_procurement(conn, actor, size, ref.models)
        except Conflict as exc:
            raise Conflict(
                f"{exc.message}, and the demo did not create it. The demo adds its fleet"
                " beside a register's own records, never over them: nothing was changed."
                " (A register an earlier version of the demo loaded has the fleet already.)",
                existing_id=exc.existing_id,
                field=exc.field,
            ) from None
        await provenance.finish_step(conn, REFERENCE)
    summary.counts |= {
        "business units": ref.business_units,
        "people": ref.people,
        "vehicles": ref.vehicles,
        "device models": ref.device_models,
        "suppliers": proc.suppliers,
        "contracts": proc.contracts,
        "purchase orders": proc.purchase_orders,
    }
    if ref.left_out:
        summary.notes.append(
            f"{ref.left_out:,} of the demo's people and vehicles were left out: the register"
            " already uses their employee numbers, UPNs, fleet numbers or registrations"
        )


async def _deliveries(actor: Actor, size: DemoSize, say: Progress, summary: DemoSummary) -> None:
    async with connection() as conn:
        licences = await deliveries.licence_key_is_free(conn)
    files: list[tuple[str, str, Callable[[], bytes]]] = [
        (VODAFONE_2021, "vodafone-despatch", partial(
            vodafone_file, 0, size.handsets_2021, HANDSET_PO_2021, dt.date(2021, 6, 14))),
        (VODAFONE_2022, "vodafone-despatch", partial(
            vodafone_file, size.handsets_2021, size.handsets_2022, HANDSET_PO_2022,
            dt.date(2022, 6, 13))),
        (CDW_2021, "cdw-asn", partial(
            cdw_file, CDW_PO, dt.date(2021, 11, 22), size, licences=licences)),
    ]  # fmt: skip
    for name, profile, content in files:
        delivered = await deliveries.import_file(actor, name, profile, content, say)
        _tell(summary, delivered)
        if delivered is not None and name == CDW_2021 and not licences:
            summary.notes.append(
                "the register already holds the NetMotion licence key the demo uses: the"
                " demo left that pool alone, and gave no seats"
            )
    async with connection() as conn:
        jobs = await deliveries.install_jobs(conn, size)
    _tell(
        summary,
        await deliveries.import_file(
            actor, BABCOCK_2021, "babcock-install", partial(babcock_file, jobs), say
        ),
    )


def _tell(summary: DemoSummary, delivered: deliveries.Delivered | None) -> None:
    if delivered is None:
        return
    summary.counts[delivered.file_name] = delivered.new
    if delivered.not_applied:
        summary.notes.append(
            f"{delivered.file_name}: {delivered.not_applied:,} row(s) not applied, as they"
            " clash with records the register has already (never overwritten): see"
            f" GET /api/v1/imports/{delivered.import_id}/rows?status=rejected"
        )


async def _in_service(actor: Actor, say: Progress, summary: DemoSummary) -> None:
    async with transaction() as conn:
        if await provenance.begin_step(conn, HANDSETS):
            say("issuing handsets")
            # The people and assets were bulk-loaded moments ago: statistics let the
            # planner join them by hash rather than guess.
            await conn.execute("ANALYZE asset, person, assignment")
            issued = await fleet.issue_handsets(
                conn, actor, HANDSET_PO_2021, dt.date(2021, 7, 1), dt.date(2022, 3, 31)
            )
            issued += await fleet.issue_handsets(
                conn, actor, HANDSET_PO_2022, dt.date(2022, 7, 1), dt.date(2023, 3, 31)
            )
            await provenance.finish_step(conn, HANDSETS)
            summary.counts[HANDSETS] = issued
    async with transaction() as conn:
        if await provenance.begin_step(conn, SPARES):
            say("rebuilt tablets to special constables")
            summary.counts[SPARES] = await fleet.issue_spare_tablets(conn, actor)
            await provenance.finish_step(conn, SPARES)
    async with transaction() as conn:
        if await provenance.begin_step(conn, NETMOTION):
            say("NetMotion seats for the fitted tablets")
            summary.counts[NETMOTION] = await fleet.assign_netmotion(conn, actor)
            await provenance.finish_step(conn, NETMOTION)
