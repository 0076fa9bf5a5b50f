"""Vehicle installs over HTTP: fit IVMA kit in a vehicle, remove it, read the history."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.params import FromPath, JSONBody

from api.dependencies import ActorDep, PageDep
from api.etags import with_etag
from api.guards import READ_REGISTER, WRITE_REGISTER
from api.schemas import PageOf, page_of
from db.engine import connection, transaction
from fleetsvc import installs
from fleetsvc.installs import Install, InstallCreate, InstallRemoval


class VehicleInstallController(Controller):
    path = "/vehicles/{vehicle_id:int}/installs"
    tags = ["installs"]

    @post("/", operation_id="createInstall", opt=WRITE_REGISTER)
    async def fit(
        self, vehicle_id: FromPath[int], data: JSONBody[InstallCreate], actor: ActorDep
    ) -> Response[Install]:
        """Fit an IVMA tablet (and dock) in the vehicle; the kit becomes deployed."""
        async with transaction() as conn:
            install = await installs.create_install(conn, actor, vehicle_id, data)
        return with_etag(install, install.version, 201)

    @get("/", operation_id="listVehicleInstalls", opt=READ_REGISTER)
    async def history(self, vehicle_id: FromPath[int], page: PageDep) -> PageOf[Install]:
        """The vehicle's installs, oldest first."""
        async with connection() as conn:
            return page_of(await installs.list_vehicle_installs(conn, vehicle_id, page))


class InstallController(Controller):
    path = "/installs"
    tags = ["installs"]

    @get("/{install_id:int}", operation_id="getInstall", opt=READ_REGISTER)
    async def get_one(self, install_id: FromPath[int]) -> Response[Install]:
        async with connection() as conn:
            install = await installs.get_install(conn, install_id)
        return with_etag(install, install.version)

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
            install = await installs.remove_install(conn, actor, install_id, data)
        return with_etag(install, install.version)


CONTROLLERS: list[type[Controller]] = [VehicleInstallController, InstallController]
