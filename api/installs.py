"""Vehicle installs over HTTP: fit IVMA kit in a vehicle, remove it, read the history."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg
import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, JSONBody

from api.dependencies import ActorDep, PageDep
from api.etags import with_etag
from api.guards import READ_REGISTER, WRITE_REGISTER
from api.schemas import PageOf, RecordId, page_of
from db.engine import connection, transaction
from fleetsvc import installs

Id = RecordId


class Install(msgspec.Struct):
    id: int
    job_reference: str
    vehicle_id: int
    tablet_id: int
    dock_id: int | None
    installer_contract_id: int | None
    installed_on: date
    removed_on: date | None
    removal_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class InstallCreate(msgspec.Struct, forbid_unknown_fields=True):
    job_reference: str
    tablet_id: Id
    installed_on: date
    dock_id: Id | None = None
    installer_contract_id: Id | None = None


class InstallRemoval(msgspec.Struct, forbid_unknown_fields=True):
    reason: str
    removed_on: date | None = None


def to_install(row: asyncpg.Record) -> Install:
    return Install(
        id=row["id"],
        job_reference=row["job_reference"],
        vehicle_id=row["vehicle_id"],
        tablet_id=row["tablet_id"],
        dock_id=row["dock_id"],
        installer_contract_id=row["installer_contract_id"],
        installed_on=row["installed_on"],
        removed_on=row["removed_on"],
        removal_reason=row["removal_reason"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class VehicleInstallController(Controller):
    path = "/vehicles/{vehicle_id:int}/installs"
    tags = ["installs"]

    @post("/", operation_id="createInstall", opt=WRITE_REGISTER)
    async def fit(
        self, vehicle_id: FromPath[int], data: JSONBody[InstallCreate], actor: ActorDep
    ) -> Response[Install]:
        """Fit an IVMA tablet (and dock) in the vehicle; the kit becomes deployed."""
        async with transaction() as conn:
            row = await installs.create_install(
                conn,
                actor,
                vehicle_id,
                job_reference=data.job_reference,
                tablet_id=data.tablet_id,
                dock_id=data.dock_id,
                installer_contract_id=data.installer_contract_id,
                installed_on=data.installed_on,
            )
        return with_etag(to_install(row), row["version"], 201)

    @get("/", operation_id="listVehicleInstalls", opt=READ_REGISTER)
    async def history(self, vehicle_id: FromPath[int], page: PageDep) -> PageOf[Install]:
        """The vehicle's installs, oldest first."""
        async with connection() as conn:
            return page_of(await installs.list_vehicle_installs(conn, vehicle_id, page), to_install)


class InstallController(Controller):
    path = "/installs"
    tags = ["installs"]

    @get("/{install_id:int}", operation_id="getInstall", opt=READ_REGISTER)
    async def get_one(self, install_id: FromPath[int]) -> Response[Install]:
        async with connection() as conn:
            row = await installs.get_install(conn, install_id)
        return with_etag(to_install(row), row["version"])

    @post(
        "/{install_id:int}/removal",
        operation_id="removeInstall",
        opt=WRITE_REGISTER,
        status_code=200,
    )
    async def remove(
        self, install_id: FromPath[int], data: JSONBody[InstallRemoval], actor: ActorDep
    ) -> Response[Install]:
        """End the install; the kit goes back to stores (to repair when faulty)."""
        async with transaction() as conn:
            row = await installs.remove_install(
                conn, actor, install_id, reason=data.reason, removed_on=data.removed_on
            )
        return with_etag(to_install(row), row["version"])


CONTROLLERS: list[type[Controller]] = [VehicleInstallController, InstallController]
