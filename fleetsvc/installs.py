"""Vehicle installs: an IVMA tablet (and its dock) fitted in a vehicle by an
installer, and removed again. A tablet is in at most one vehicle and a vehicle
has at most one active tablet: the database's partial unique indexes keep that
true; the checks here only make the refusal clear."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import asyncpg
import msgspec

from fleetsvc.assets.lifecycle import check_move
from fleetsvc.assets.moves import apply_move, close_install, lock_asset
from fleetsvc.auth import Actor
from fleetsvc.checks import (
    Problems,
    RegisterDay,
    cell_text,
    contract_of_kind,
    documented_cell_text,
)
from fleetsvc.errors import Conflict, FieldProblem, NotFound, ValidationFailed, a_or_an
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import (
    MAX_ID,
    Filters,
    RecordId,
    check_id,
    get_record,
    insert_record,
    list_page,
)
from fleetsvc.vocabulary import (
    INSTALLABLE,
    AssetStatus,
    Category,
    ContractKind,
    RemovalReason,
    VehicleStatus,
    one_of,
)
from importers.fields import FieldError, register_date

INSTALL = "install"


class Install(msgspec.Struct):
    id: int
    job_reference: str
    vehicle_id: int
    tablet_id: int
    dock_id: int | None
    installer_contract_id: int | None
    installed_on: dt.date
    removed_on: dt.date | None
    removal_reason: Annotated[str, one_of(RemovalReason, nullable=True)] | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class InstallCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Kit an installer fitted in a vehicle (``POST /vehicles/{id}/installs``)."""

    job_reference: Annotated[str, documented_cell_text(64)]
    tablet_id: RecordId
    installed_on: RegisterDay
    dock_id: RecordId | None = None
    installer_contract_id: RecordId | None = None


class InstallRemoval(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, one_of(RemovalReason)]
    removed_on: RegisterDay | None = None


def _install(row: asyncpg.Record) -> Install:
    return msgspec.convert(dict(row), Install)


async def get_install(conn: asyncpg.Connection, install_id: int) -> Install:
    return _install(await get_record(conn, INSTALL, INSTALL, check_id(INSTALL, install_id)))


async def list_vehicle_installs(
    conn: asyncpg.Connection, vehicle_id: int, page: PageRequest
) -> Page[Install]:
    """A vehicle's installs, oldest first (its IVMA history)."""
    await get_record(conn, "vehicle", "vehicle", check_id("vehicle", vehicle_id))
    f = Filters()
    f.add("vehicle_id = {}", vehicle_id)
    rows = await list_page(conn, f"SELECT * FROM {INSTALL}", f, page)
    return Page(items=[_install(r) for r in rows.items], next_cursor=rows.next_cursor)


# --- fitting ----------------------------------------------------------------------------------


async def create_install(
    conn: asyncpg.Connection, actor: Actor, vehicle_id: int, fit: InstallCreate
) -> Install:
    """Fit a tablet (and dock) in a vehicle: they become deployed, held by the vehicle."""
    job_reference = _check_request(fit)
    vehicle = await _lock_vehicle(conn, vehicle_id)
    kit = await _lock_kit(conn, fit)
    values = {
        "job_reference": job_reference,
        "vehicle_id": vehicle_id,
        "tablet_id": fit.tablet_id,
        "dock_id": fit.dock_id,
        "installer_contract_id": fit.installer_contract_id,
        "installed_on": fit.installed_on,
    }
    install = await insert_record(conn, actor, table=INSTALL, entity=INSTALL, values=values)
    holder = {"vehicle_id": vehicle_id, "install_id": install["id"]}
    reason = f"fitted in vehicle {vehicle['vrm']} (job {job_reference})"
    for asset in kit:
        await apply_move(
            conn,
            actor,
            asset,
            AssetStatus.DEPLOYED,
            reason,
            service_start=fit.installed_on,
            holder=holder,
        )
    return _install(install)


def _check_request(fit: InstallCreate) -> str:
    """Every problem of the request itself, at once; the job reference, trimmed."""
    problems: list[FieldProblem] = []
    job_reference = fit.job_reference
    try:
        job_reference = cell_text(job_reference, 64)
        if not job_reference:
            problems.append(
                FieldProblem("job_reference", "the installer's job reference is required")
            )
    except FieldError as exc:
        problems.append(FieldProblem("job_reference", exc.message))
    try:
        register_date(fit.installed_on)
    except FieldError as exc:
        problems.append(FieldProblem("installed_on", exc.message))
    else:
        if fit.installed_on > dt.date.today():
            problems.append(FieldProblem("installed_on", "installed_on cannot be in the future"))
    if fit.dock_id is not None and fit.dock_id == fit.tablet_id:
        problems.append(FieldProblem("dock_id", "the dock cannot be the tablet"))
    for field, value in (
        ("tablet_id", fit.tablet_id),
        ("dock_id", fit.dock_id),
        ("installer_contract_id", fit.installer_contract_id),
    ):
        if value is not None and not 1 <= value <= MAX_ID:
            problems.append(FieldProblem(field, f"{field} is not a valid id"))
    if problems:
        raise ValidationFailed(problems)
    return job_reference


async def _lock_vehicle(conn: asyncpg.Connection, vehicle_id: int) -> asyncpg.Record:
    """The vehicle, in service and with no tablet fitted now."""
    # The vehicle row is locked so that two fits to one vehicle queue, and the second is told.
    vehicle = await conn.fetchrow(
        "SELECT * FROM vehicle WHERE id = $1 FOR UPDATE", check_id("vehicle", vehicle_id)
    )
    if vehicle is None:
        raise NotFound("vehicle", vehicle_id)
    if vehicle["status"] == VehicleStatus.DECOMMISSIONED:
        raise ValidationFailed.one(
            "vehicle_id", f"vehicle {vehicle['vrm']} is decommissioned; kit cannot be fitted"
        )
    current = await conn.fetchval(
        "SELECT id FROM install WHERE vehicle_id = $1 AND removed_on IS NULL", vehicle_id
    )
    if current is not None:
        raise Conflict(
            f"vehicle {vehicle['vrm']} already has an IVMA tablet fitted (install {current});"
            " remove it first",
            existing_id=current,
            field="vehicle_id",
        )
    return vehicle


async def _lock_kit(conn: asyncpg.Connection, fit: InstallCreate) -> list[asyncpg.Record]:
    """The tablet (and dock), locked in id order: of the right categories, free to fit,
    and the installer's contract an installation contract. Tablet first, then dock."""
    tablet_id, dock_id = fit.tablet_id, fit.dock_id
    ids = sorted({tablet_id} | ({dock_id} if dock_id is not None else set()))
    rows = await conn.fetch(
        "SELECT a.*, m.category, m.lifecycle_months FROM asset a"
        " JOIN device_model m ON m.id = a.model_id WHERE a.id = ANY($1::int[])"
        " ORDER BY a.id FOR UPDATE OF a",
        ids,
    )
    kit = {r["id"]: r for r in rows}
    problems = _kit_problems(kit, "tablet_id", tablet_id, Category.IVMA_TABLET)
    if dock_id is not None:
        problems += _kit_problems(kit, "dock_id", dock_id, Category.VEHICLE_DOCK)
    # The finance forecasts charge fitted kit to this contract's per-device charges.
    contract = Problems()
    await contract_of_kind(
        conn,
        contract,
        "installer_contract_id",
        fit.installer_contract_id,
        ContractKind.INSTALLATION,
    )
    problems += contract.items
    if problems:
        raise ValidationFailed(problems)
    await _check_kit_free(conn, kit[tablet_id], "tablet_id")
    if dock_id is not None:
        await _check_kit_free(conn, kit[dock_id], "dock_id")
    return [kit[tablet_id], *([kit[dock_id]] if dock_id is not None else [])]


def _kit_problems(
    kit: dict[int, asyncpg.Record], field: str, asset_id: int, category: str
) -> list[FieldProblem]:
    row = kit.get(asset_id)
    if row is None:
        return [FieldProblem(field, f"no asset with id {asset_id}")]
    if row["category"] != category:
        return [
            FieldProblem(
                field,
                f"asset {asset_id} is {a_or_an(row['category'])}, not {a_or_an(category)}",
            )
        ]
    return []


async def _check_kit_free(conn: asyncpg.Connection, asset: asyncpg.Record, field: str) -> None:
    """The kit must be in stores or staging; if it is in a vehicle already, say which."""
    if asset["status"] in INSTALLABLE:
        return
    fitted = await conn.fetchrow(
        "SELECT i.id, v.vrm FROM install i JOIN vehicle v ON v.id = i.vehicle_id"
        " WHERE i.removed_on IS NULL AND (i.tablet_id = $1 OR i.dock_id = $1)",
        asset["id"],
    )
    if fitted is not None:
        raise Conflict(
            f"asset {asset['id']} is already fitted in vehicle {fitted['vrm']}"
            f" (install {fitted['id']}); remove that install first",
            existing_id=fitted["id"],
            field=field,
        )
    check_move(asset["status"], AssetStatus.DEPLOYED)


# --- removing ---------------------------------------------------------------------------------


async def remove_install(
    conn: asyncpg.Connection, actor: Actor, install_id: int, removal: InstallRemoval
) -> Install:
    """End an install; the kit returns to stores (or to repair when it is faulty)."""
    reason, removed_on = removal.reason, removal.removed_on
    if not RemovalReason.has(reason):
        raise ValidationFailed.one("reason", f"reason must be one of {RemovalReason.listed()}")
    install = await get_install(conn, install_id)
    if install.removed_on is not None:
        raise Conflict(f"install {install_id} was already removed on {install.removed_on:%d/%m/%Y}")
    if removed_on is not None:
        if removed_on < install.installed_on:
            raise ValidationFailed.one("removed_on", "removed_on cannot be before the install date")
        if removed_on > dt.date.today():
            raise ValidationFailed.one("removed_on", "removed_on cannot be in the future")
    # Kit first, in id order, as every path that moves kit locks it.
    kit = [
        await lock_asset(conn, asset_id)
        for asset_id in sorted(i for i in (install.tablet_id, install.dock_id) if i)
    ]
    closed = await close_install(conn, actor, install_id, reason, removed_on)
    to = AssetStatus.IN_REPAIR if reason == RemovalReason.FAULTY else AssetStatus.IN_STOCK
    for asset in kit:
        if asset["status"] == AssetStatus.DEPLOYED:
            await apply_move(
                conn,
                actor,
                asset,
                to,
                f"removed from vehicle (install {install.job_reference}): {reason}",
            )
    return _install(closed)
