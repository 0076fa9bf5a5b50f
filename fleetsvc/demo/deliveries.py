"""The demo's deliveries: each supplier file imported through ``fleetsvc.imports``, staged
and previewed like any upload, then committed (``commit_staged``) in one transaction with
the demo's record of it, so an import and the knowledge that what it created is the demo's
are written together or not at all.

An import never overwrites: a row that clashes with a record the register has already is a
conflict and is not applied, and the demo commits the rest (``allow_partial``). The install
report names only the demo's own vehicles, tablets and docks, and job references no one
has used, so the demo never fits kit it did not deliver, or into a vehicle it did not make.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from db.engine import connection, transaction
from fleetsvc.auth import Actor
from fleetsvc.demo import provenance
from fleetsvc.demo.files import InstallJob
from fleetsvc.demo.shape import (
    NETMOTION_KEY,
    DemoSize,
    dock_serial,
    fleet_number,
    spread,
    tablet_serial,
)
from fleetsvc.imports import run
from fleetsvc.imports.queries import get_import


@dataclass(frozen=True)
class Delivered:
    """What one of the demo's files did: the import, items new, and rows not applied
    (rejected, or in conflict with the register's own records)."""

    file_name: str
    import_id: int
    new: int
    not_applied: int


def step_of(file_name: str) -> str:
    """The story's step that imports one of the demo's files."""
    return f"import {file_name}"


async def import_file(
    actor: Actor,
    file_name: str,
    profile: str,
    content: Callable[[], bytes],
    say: Callable[[str], None],
) -> Delivered | None:
    """Import one of the demo's files, once; None when an earlier run did. A file with no
    rows (nothing of the demo's left to send) marks the step done with no import."""
    step = step_of(file_name)
    async with connection() as conn:
        if step in await provenance.steps_done(conn):
            return None
    say(f"delivery import {file_name}")
    with tempfile.TemporaryDirectory(prefix="fleetsvc-demo-") as tmp:
        path = Path(tmp) / file_name
        data = content()
        if data.count(b"\n") < 2:
            await _finish_empty(step)
            return None
        path.write_bytes(data)
        preview = await run.run_import(actor, path=path, file_name=file_name, profile_name=profile)
    async with transaction() as conn:
        if not await provenance.begin_step(conn, step):
            return None  # another run committed it meanwhile; this preview just expires
        await run.commit_staged(conn, actor, preview.id, allow_partial=True)
        await provenance.remember(conn, "delivery_import", [preview.id])
        await provenance.finish_step(conn, step)
    async with connection() as conn:
        tally = (await get_import(conn, preview.id)).tally()
    return Delivered(file_name, preview.id, tally.new, tally.blocking)


async def _finish_empty(step: str) -> None:
    async with transaction() as conn:
        if await provenance.begin_step(conn, step):
            await provenance.finish_step(conn, step)


async def licence_key_is_free(conn: asyncpg.Connection) -> bool:
    """Whether the CDW file may carry the NetMotion licences: a pool of that key the
    register has already, and not from the demo, would be topped up by them."""
    held = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM licence_pool WHERE licence_key = $1 AND"
        f" (delivery_import_id IS NULL OR delivery_import_id NOT IN {provenance.DEMO_IMPORTS}))",
        NETMOTION_KEY,
    )
    return not held


_KIT: str = f"""
SELECT a.serial_number, m.category FROM asset a JOIN device_model m ON m.id = a.model_id
WHERE a.delivery_import_id IN {provenance.DEMO_IMPORTS}
  AND a.status IN ('in_stock', 'staging') AND m.category IN ('ivma_tablet', 'vehicle_dock')
  AND NOT EXISTS (SELECT 1 FROM install i WHERE i.removed_on IS NULL
                  AND (i.tablet_id = a.id OR i.dock_id = a.id))
"""


async def install_jobs(conn: asyncpg.Connection, size: DemoSize) -> list[InstallJob]:
    """Babcock's jobs in 2021/22: tablet n and dock n into vehicle n, for each n whose
    vehicle, tablet (and dock) the demo made and whose job reference no one has used."""
    vehicles = {
        r["fleet_number"]: r["vrm"]
        for r in await conn.fetch(
            f"SELECT fleet_number, vrm FROM vehicle WHERE id IN {provenance.mine('vehicle')}"
        )
    }
    kit = {(r["category"], r["serial_number"]) for r in await conn.fetch(_KIT)}
    references = [f"BAB-IVMA-{20000 + n}" for n in range(size.vehicles)]
    used = {
        r["job_reference"]
        for r in await conn.fetch(
            "SELECT job_reference FROM install_job WHERE job_reference = ANY($1::text[])"
            " UNION SELECT job_reference FROM install WHERE job_reference = ANY($1::text[])",
            references,
        )
    }
    days = spread(dt.date(2021, 12, 1), dt.date(2022, 3, 25), size.vehicles)
    jobs = []
    for n, (reference, day) in enumerate(zip(references, days, strict=True)):
        fleet = fleet_number(n)
        if (
            fleet not in vehicles
            or ("ivma_tablet", tablet_serial(n)) not in kit
            or reference in used
        ):
            continue
        dock = dock_serial(n) if ("vehicle_dock", dock_serial(n)) in kit else None
        jobs.append(InstallJob(reference, day, fleet, vehicles[fleet], tablet_serial(n), dock))
    return jobs
