"""Device models, with their part numbers and description aliases."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.dependencies import ActorDep, PageDep
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, WRITE_REGISTER
from api.schemas import PageOf, page_of
from api.vocabulary import enum_of
from db.engine import connection, transaction
from fleetsvc import device_models
from fleetsvc.device_models import DeviceModel, DeviceModelCreate, DeviceModelUpdate
from fleetsvc.vocabulary import Category


class DeviceModelController(Controller):
    path = "/models"
    tags = ["device models"]

    @get("/", operation_id="listDeviceModels", opt=READ_REGISTER)
    async def list_models(
        self,
        page: PageDep,
        category: Annotated[str | None, QueryParameter(schema_extra=enum_of(Category))] = None,
        manufacturer: FromQuery[str | None] = None,
        part_number: FromQuery[str | None] = None,
        q: FromQuery[str | None] = None,
    ) -> PageOf[DeviceModel]:
        async with connection() as conn:
            found = await device_models.list_models(
                conn,
                page,
                category=category,
                manufacturer=manufacturer,
                part_number=part_number,
                q=q,
            )
        return page_of(found)

    @post("/", operation_id="createDeviceModel", opt=WRITE_REGISTER)
    async def create(
        self, data: JSONBody[DeviceModelCreate], actor: ActorDep
    ) -> Response[DeviceModel]:
        async with transaction() as conn:
            model = await device_models.create_model(conn, actor, data)
        return with_etag(model, model.version, 201)

    @get("/{model_id:int}", operation_id="getDeviceModel", opt=READ_REGISTER)
    async def get_one(self, model_id: FromPath[int]) -> Response[DeviceModel]:
        async with connection() as conn:
            model = await device_models.get_model(conn, model_id)
        return with_etag(model, model.version)

    @patch(
        "/{model_id:int}",
        operation_id="updateDeviceModel",
        opt=WRITE_REGISTER,
        operation_class=HonoursIfMatch,
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        model_id: FromPath[int],
        data: JSONBody[DeviceModelUpdate],
        actor: ActorDep,
    ) -> Response[DeviceModel]:
        """Part numbers and aliases, when given, replace the whole list. A new lifecycle
        moves the refresh date of every asset of the model."""
        async with transaction() as conn:
            model = await device_models.update_model(conn, actor, model_id, data, if_match(request))
        return with_etag(model, model.version)


CONTROLLERS: list[type[Controller]] = [DeviceModelController]
