"""Assets over HTTP: register one or a batch, look up, list with filters, change, move
through the lifecycle, read the history; and what a person holds now.

The request and response bodies are the domain's Structs (``fleetsvc.assets``); the
batch's wrapper and answer are this module's.
"""

from __future__ import annotations

from datetime import date
from http import HTTPStatus
from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Request, Response, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter, SkipValidation

from api.dependencies import ActorDep, PageDep
from api.errors import msgspec_problem
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, WRITE_REGISTER
from api.schemas import PageOf, RecordIdQuery, page_of
from api.vocabulary import enum_of
from db.engine import connection, transaction
from fleetsvc.assets.changes import AssetUpdate, update_asset
from fleetsvc.assets.document import Asset
from fleetsvc.assets.filters import AssetFilter
from fleetsvc.assets.history import asset_history
from fleetsvc.assets.lookup import get_asset_document, list_assets, list_person_assets
from fleetsvc.assets.moves import Transition, transition
from fleetsvc.assets.register import MAX_BATCH, AssetCreate, create_asset, create_assets
from fleetsvc.audit import Event
from fleetsvc.errors import FieldProblem, ValidationFailed
from fleetsvc.pagination import Page
from fleetsvc.vocabulary import AssetStatus, Category, documented

IdQuery = RecordIdQuery


class AssetBatch(msgspec.Struct, forbid_unknown_fields=True):
    items: Annotated[list[AssetCreate], documented(minItems=1, maxItems=MAX_BATCH)]


_JSON_TYPES = {dict: "object", list: "array", str: "str", int: "int", float: "float", bool: "bool"}


def _json_type(value: object) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def read_batch(body: object) -> tuple[list[AssetCreate | None], list[FieldProblem]]:
    """A batch body's items, and the problems of the items that cannot be read at all
    (``None`` stands in for each).

    Every item is read even when an earlier one fails (msgspec stops at the first), so
    a 422 names every failing item by index and field, whatever the kind of fault.
    """
    if not isinstance(body, dict):
        raise ValidationFailed.one("body", f"Expected `object`, got `{_json_type(body)}`")
    problems = [
        FieldProblem(str(key), "is not a field this request accepts")
        for key in body
        if key != "items"
    ]
    raw = body.get("items")
    if "items" not in body:
        problems.append(FieldProblem("items", "is required"))
    elif not isinstance(raw, list):
        problems.append(FieldProblem("items", f"Expected `array`, got `{_json_type(raw)}`"))
    if problems or not isinstance(raw, list):
        raise ValidationFailed(problems)
    if len(raw) > MAX_BATCH:
        raise ValidationFailed.one("items", f"a batch holds at most {MAX_BATCH} items")
    items: list[AssetCreate | None] = []
    for n, item in enumerate(raw):
        try:
            items.append(msgspec.convert(item, AssetCreate))
        except msgspec.ValidationError as exc:
            items.append(None)
            problems.append(msgspec_problem(str(exc), f"items.{n}"))
    return items, problems


class AssetBatchResult(msgspec.Struct):
    created: int
    items: list[Asset]


# The read paths (one asset, list pages) send the JSON PostgreSQL built
# (``fleetsvc.assets.document.DOCUMENT_SELECT``) as it is: building and encoding 100
# nested Structs per page was most of a list page's cost. The OpenAPI document
# still describes them with the ``Asset`` Struct.
def _documented_as(model: Any) -> dict[int, ResponseSpec]:
    return {
        200: ResponseSpec(
            data_container=model,
            generate_examples=False,
            description=HTTPStatus.OK.description,
        )
    }


def page_json(page: Page[str]) -> bytes:
    """A ``PageOf`` document around items that are already JSON text."""
    items = ",".join(page.items).encode()
    cursor = msgspec.json.encode(page.next_cursor)
    return b'{"items":[' + items + b'],"next_cursor":' + cursor + b"}"


def json_page_response(page: Page[str]) -> Response[bytes]:
    return Response(page_json(page), media_type=MediaType.JSON)


class AssetController(Controller):
    path = "/assets"
    tags = ["assets"]

    @get(
        "/",
        operation_id="listAssets",
        opt=READ_REGISTER,
        media_type=MediaType.JSON,
        responses=_documented_as(PageOf[Asset]),
    )
    async def list_assets(
        self,
        page: PageDep,
        category: Annotated[str | None, QueryParameter(schema_extra=enum_of(Category))] = None,
        status: Annotated[str | None, QueryParameter(schema_extra=enum_of(AssetStatus))] = None,
        model_id: IdQuery = None,
        serial: FromQuery[str | None] = None,
        imei: FromQuery[str | None] = None,
        msisdn: FromQuery[str | None] = None,
        asset_tag: FromQuery[str | None] = None,
        person_id: IdQuery = None,
        employee_number: FromQuery[str | None] = None,
        upn: FromQuery[str | None] = None,
        vehicle_id: IdQuery = None,
        vrm: FromQuery[str | None] = None,
        fleet_number: FromQuery[str | None] = None,
        contract_id: IdQuery = None,
        business_unit: FromQuery[str | None] = None,
        location: FromQuery[str | None] = None,
        refresh_due_before: FromQuery[date | None] = None,
        q: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        flt = AssetFilter(
            category=category,
            status=status,
            model_id=model_id,
            serial=serial,
            imei=imei,
            msisdn=msisdn,
            asset_tag=asset_tag,
            person_id=person_id,
            employee_number=employee_number,
            upn=upn,
            vehicle_id=vehicle_id,
            vrm=vrm,
            fleet_number=fleet_number,
            contract_id=contract_id,
            business_unit=business_unit,
            location=location,
            refresh_due_before=refresh_due_before,
            q=q,
        )
        async with connection() as conn:
            return json_page_response(await list_assets(conn, flt, page))

    @post("/", operation_id="createAsset", opt=WRITE_REGISTER)
    async def create(self, data: JSONBody[AssetCreate], actor: ActorDep) -> Response[Asset]:
        async with transaction() as conn:
            asset = await create_asset(conn, actor, data)
        return with_etag(asset, asset.version, 201)

    # Documented as an AssetBatch, read by read_batch: Litestar's own check would name
    # only the first item that cannot be read.
    @post("/batch", operation_id="createAssets", opt=WRITE_REGISTER)
    async def create_batch(
        self, data: SkipValidation[JSONBody[AssetBatch]], actor: ActorDep
    ) -> Response[AssetBatchResult]:
        items, unreadable = read_batch(data)
        async with transaction() as conn:
            assets = await create_assets(conn, actor, items, unreadable=unreadable)
        return Response(AssetBatchResult(created=len(assets), items=assets), status_code=201)

    @get(
        "/{asset_id:int}",
        operation_id="getAsset",
        opt=READ_REGISTER,
        media_type=MediaType.JSON,
        responses=_documented_as(Asset),
    )
    async def get_one(self, asset_id: FromPath[int]) -> Response[bytes]:
        async with connection() as conn:
            doc = await get_asset_document(conn, asset_id)
        return with_etag(doc.json.encode(), doc.version)

    @patch(
        "/{asset_id:int}",
        operation_id="updateAsset",
        opt=WRITE_REGISTER,
        operation_class=HonoursIfMatch,
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        asset_id: FromPath[int],
        data: JSONBody[AssetUpdate],
        actor: ActorDep,
    ) -> Response[Asset]:
        expected = if_match(request)
        async with transaction() as conn:
            asset = await update_asset(conn, actor, asset_id, data, expected)
        return with_etag(asset, asset.version)

    @post(
        "/{asset_id:int}/transitions",
        operation_id="transitionAsset",
        status_code=200,
        opt=WRITE_REGISTER,
        operation_class=HonoursIfMatch,
    )
    async def move(
        self,
        request: Request[Any, Any, Any],
        asset_id: FromPath[int],
        data: JSONBody[Transition],
        actor: ActorDep,
    ) -> Response[Asset]:
        expected = if_match(request)
        async with transaction() as conn:
            asset = await transition(conn, actor, asset_id, data, expected)
        return with_etag(asset, asset.version)

    @get("/{asset_id:int}/events", operation_id="assetHistory", opt=READ_REGISTER)
    async def history(self, asset_id: FromPath[int], page: PageDep) -> PageOf[Event]:
        async with connection() as conn:
            return page_of(await asset_history(conn, asset_id, page))


class PersonAssetsController(Controller):
    path = "/people/{person_id:int}/assets"
    tags = ["assets"]

    @get(
        "/",
        operation_id="listPersonAssets",
        opt=READ_REGISTER,
        media_type=MediaType.JSON,
        responses=_documented_as(PageOf[Asset]),
    )
    async def list_for_person(self, person_id: FromPath[int], page: PageDep) -> Response[bytes]:
        """The devices a person holds now (the leaver checklist)."""
        async with connection() as conn:
            return json_page_response(await list_person_assets(conn, person_id, page))


CONTROLLERS: list[type[Controller]] = [AssetController, PersonAssetsController]
