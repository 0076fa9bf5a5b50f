"""Device models, with their part numbers and description aliases."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.dependencies import ActorDep, PageDep
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, WRITE_REGISTER
from api.schemas import PageOf, page_of
from db.engine import connection, transaction
from fleetsvc import device_models
from fleetsvc.records import changes_of


class DeviceModel(msgspec.Struct):
    id: int
    manufacturer: str
    model_name: str
    category: str
    lifecycle_months: int | None
    replacement_cost: Decimal | None
    part_numbers: list[str]
    aliases: list[str]
    version: int
    created_at: datetime
    updated_at: datetime


class DeviceModelCreate(msgspec.Struct, forbid_unknown_fields=True):
    manufacturer: str
    model_name: str
    category: str
    lifecycle_months: int | None = None
    replacement_cost: str | None = None
    part_numbers: list[str] = []
    aliases: list[str] = []


class DeviceModelUpdate(msgspec.Struct, forbid_unknown_fields=True):
    manufacturer: str | msgspec.UnsetType = msgspec.UNSET
    model_name: str | msgspec.UnsetType = msgspec.UNSET
    category: str | msgspec.UnsetType = msgspec.UNSET
    lifecycle_months: int | msgspec.UnsetType | None = msgspec.UNSET
    replacement_cost: str | msgspec.UnsetType | None = msgspec.UNSET
    part_numbers: list[str] | msgspec.UnsetType = msgspec.UNSET
    aliases: list[str] | msgspec.UnsetType = msgspec.UNSET


def to_model(row: asyncpg.Record) -> DeviceModel:
    return DeviceModel(**{f: row[f] for f in DeviceModel.__struct_fields__})


class DeviceModelController(Controller):
    path = "/models"
    tags = ["device models"]

    @get("/", operation_id="listDeviceModels", opt=READ_REGISTER)
    async def list_models(
        self,
        page: PageDep,
        category: FromQuery[str | None] = None,
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
        return page_of(found, to_model)

    @post("/", operation_id="createDeviceModel", opt=WRITE_REGISTER)
    async def create(
        self, data: JSONBody[DeviceModelCreate], actor: ActorDep
    ) -> Response[DeviceModel]:
        async with transaction() as conn:
            row = await device_models.create_model(conn, actor, msgspec.structs.asdict(data))
        return with_etag(to_model(row), row["version"], 201)

    @get("/{model_id:int}", operation_id="getDeviceModel", opt=READ_REGISTER)
    async def get_one(self, model_id: FromPath[int]) -> Response[DeviceModel]:
        async with connection() as conn:
            row = await device_models.get_model(conn, model_id)
        return with_etag(to_model(row), row["version"])

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
            row = await device_models.update_model(
                conn, actor, model_id, changes_of(data), if_match(request)
            )
        return with_etag(to_model(row), row["version"])


CONTROLLERS: list[type[Controller]] = [DeviceModelController]
