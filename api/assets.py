"""Assets, SIMs and installs: the register DP engineers use every day.

This module holds the asset routes; ``api.sims`` and ``api.installs`` hold the
SIM and install routes, and all are listed in ``CONTROLLERS``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import asyncpg
import msgspec
from litestar import Controller, MediaType, Request, Response, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, SkipValidation

from api import installs, sims
from api.dependencies import ActorDep, PageDep
from api.errors import msgspec_problem
from api.etags import HonoursIfMatch, if_match, with_etag
from api.events import Event, to_event
from api.guards import READ_REGISTER, WRITE_REGISTER
from api.schemas import PageOf, RecordId, RecordIdQuery, page_of
from db.engine import connection, transaction
from fleetsvc.assets import register
from fleetsvc.errors import FieldProblem, ValidationFailed
from fleetsvc.pagination import Page
from fleetsvc.records import changes_of

Id = RecordId
IdQuery = RecordIdQuery


class AssetModel(msgspec.Struct):
    id: int
    manufacturer: str
    model_name: str
    category: str


class AssetSim(msgspec.Struct):
    id: int
    iccid: str
    msisdn: str | None


class Holder(msgspec.Struct):
    """Who or what has the device: a person, or a vehicle (through an install)."""

    kind: str
    person_id: int | None = None
    display_name: str | None = None
    employee_number: str | None = None
    vehicle_id: int | None = None
    vrm: str | None = None
    fleet_number: str | None = None
    install_id: int | None = None


class MdmFacts(msgspec.Struct):
    device_id: str
    last_seen_at: datetime | None
    compliance: str | None
    os_version: str | None
    user_upn: str | None


class Asset(msgspec.Struct):
    id: int
    serial_number: str
    manufacturer: str
    imei: str | None
    asset_tag: str | None
    status: str
    model: AssetModel
    sim: AssetSim | None
    holder: Holder | None
    purchase_order_id: int | None
    contract_id: int | None
    supplier_order_ref: str | None
    delivery_ref: str | None
    unit_cost: str | None
    delivered_on: date | None
    in_service_on: date | None
    refresh_due_on: date | None
    refresh_due_override: date | None
    replacement_cost_override: str | None
    mdm: MdmFacts | None
    disposal_certificate_ref: str | None
    notes: str
    version: int
    created_at: datetime
    updated_at: datetime


class AssetCreate(msgspec.Struct, forbid_unknown_fields=True):
    model_id: Id
    serial_number: str
    imei: str | None = None
    asset_tag: str | None = None
    status: str = "in_stock"
    purchase_order_id: Id | None = None
    contract_id: Id | None = None
    supplier_order_ref: str | None = None
    delivery_ref: str | None = None
    unit_cost: str | None = None
    delivered_on: date | None = None
    refresh_due_override: date | None = None
    replacement_cost_override: str | None = None
    notes: str = ""


class AssetBatch(msgspec.Struct, forbid_unknown_fields=True):
    items: list[AssetCreate]


_JSON_TYPES = {dict: "object", list: "array", str: "str", int: "int", float: "float", bool: "bool"}


def _json_type(value: object) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def read_batch(body: object) -> tuple[list[dict[str, Any]], list[FieldProblem]]:
    """A batch body's items as registration fields, and the problems of the items that
    cannot be read at all (``{}`` stands in for each).

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
    if len(raw) > register.MAX_BATCH:
        raise ValidationFailed.one("items", f"a batch holds at most {register.MAX_BATCH} items")
    items: list[dict[str, Any]] = []
    for n, item in enumerate(raw):
        try:
            items.append(msgspec.structs.asdict(msgspec.convert(item, AssetCreate)))
        except msgspec.ValidationError as exc:
            items.append({})
            problems.append(msgspec_problem(str(exc), f"items.{n}"))
    return items, problems


class AssetBatchResult(msgspec.Struct):
    created: int
    items: list[Asset]


class AssetUpdate(msgspec.Struct, forbid_unknown_fields=True):
    model_id: Id | msgspec.UnsetType = msgspec.UNSET
    serial_number: str | msgspec.UnsetType = msgspec.UNSET
    imei: str | msgspec.UnsetType | None = msgspec.UNSET
    asset_tag: str | msgspec.UnsetType | None = msgspec.UNSET
    purchase_order_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    contract_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    supplier_order_ref: str | msgspec.UnsetType | None = msgspec.UNSET
    delivery_ref: str | msgspec.UnsetType | None = msgspec.UNSET
    unit_cost: str | msgspec.UnsetType | None = msgspec.UNSET
    delivered_on: date | msgspec.UnsetType | None = msgspec.UNSET
    refresh_due_override: date | msgspec.UnsetType | None = msgspec.UNSET
    replacement_cost_override: str | msgspec.UnsetType | None = msgspec.UNSET
    notes: str | msgspec.UnsetType = msgspec.UNSET


class Transition(msgspec.Struct, forbid_unknown_fields=True):
    to: str
    reason: str
    person_id: Id | None = None
    certificate_ref: str | None = None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def to_asset(row: asyncpg.Record) -> Asset:
    holder = None
    if row["person_id"] is not None:
        holder = Holder(
            kind="person",
            person_id=row["person_id"],
            display_name=row["person_name"],
            employee_number=row["employee_number"],
        )
    elif row["install_id"] is not None:
        holder = Holder(
            kind="vehicle",
            vehicle_id=row["vehicle_id"],
            vrm=row["vrm"],
            fleet_number=row["fleet_number"],
            install_id=row["install_id"],
        )
    return Asset(
        id=row["id"],
        serial_number=row["serial_number"],
        manufacturer=row["manufacturer"],
        imei=row["imei"],
        asset_tag=row["asset_tag"],
        status=row["status"],
        model=AssetModel(
            id=row["model_id"],
            manufacturer=row["model_manufacturer"],
            model_name=row["model_name"],
            category=row["category"],
        ),
        sim=AssetSim(id=row["sim_id"], iccid=row["iccid"], msisdn=row["msisdn"])
        if row["sim_id"] is not None
        else None,
        holder=holder,
        purchase_order_id=row["purchase_order_id"],
        contract_id=row["contract_id"],
        supplier_order_ref=row["supplier_order_ref"],
        delivery_ref=row["delivery_ref"],
        unit_cost=_money(row["unit_cost"]),
        delivered_on=row["delivered_on"],
        in_service_on=row["in_service_on"],
        refresh_due_on=row["refresh_due_on"],
        refresh_due_override=row["refresh_due_override"],
        replacement_cost_override=_money(row["replacement_cost_override"]),
        mdm=MdmFacts(
            device_id=row["mdm_device_id"],
            last_seen_at=row["mdm_last_seen_at"],
            compliance=row["mdm_compliance"],
            os_version=row["mdm_os_version"],
            user_upn=row["mdm_user_upn"],
        )
        if row["mdm_device_id"] is not None
        else None,
        disposal_certificate_ref=row["disposal_certificate_ref"],
        notes=row["notes"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# The read paths (one asset, list pages) send the JSON PostgreSQL built
# (``fleetsvc.assets.register.DOCUMENT_SELECT``) as it is: building and encoding 100
# nested Structs per page was most of a list page's cost. The OpenAPI document
# still describes them with the Structs above.
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
        category: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
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
        refresh_due_before: FromQuery[date | None] = None,
        q: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        flt = register.AssetFilter(
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
            refresh_due_before=refresh_due_before,
            q=q,
        )
        async with connection() as conn:
            return json_page_response(await register.list_assets(conn, flt, page))

    @post("/", operation_id="createAsset", opt=WRITE_REGISTER)
    async def create(self, data: JSONBody[AssetCreate], actor: ActorDep) -> Response[Asset]:
        async with transaction() as conn:
            row = await register.create_asset(conn, actor, msgspec.structs.asdict(data))
        return with_etag(to_asset(row), row["version"], 201)

    # Documented as an AssetBatch, read by read_batch: Litestar's own check would name
    # only the first item that cannot be read.
    @post("/batch", operation_id="createAssets", opt=WRITE_REGISTER)
    async def create_batch(
        self, data: SkipValidation[JSONBody[AssetBatch]], actor: ActorDep
    ) -> Response[AssetBatchResult]:
        items, unreadable = read_batch(data)
        async with transaction() as conn:
            rows = await register.create_assets(conn, actor, items, unreadable=unreadable)
        return Response(
            AssetBatchResult(created=len(rows), items=[to_asset(r) for r in rows]),
            status_code=201,
        )

    @get(
        "/{asset_id:int}",
        operation_id="getAsset",
        opt=READ_REGISTER,
        media_type=MediaType.JSON,
        responses=_documented_as(Asset),
    )
    async def get_one(self, asset_id: FromPath[int]) -> Response[bytes]:
        async with connection() as conn:
            doc = await register.get_asset_document(conn, asset_id)
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
            row = await register.update_asset(conn, actor, asset_id, changes_of(data), expected)
        return with_etag(to_asset(row), row["version"])

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
            row = await register.transition(
                conn,
                actor,
                asset_id,
                to=data.to,
                reason=data.reason,
                person_id=data.person_id,
                certificate_ref=data.certificate_ref,
                expected_version=expected,
            )
        return with_etag(to_asset(row), row["version"])

    @get("/{asset_id:int}/events", operation_id="assetHistory", opt=READ_REGISTER)
    async def history(self, asset_id: FromPath[int], page: PageDep) -> PageOf[Event]:
        async with connection() as conn:
            return page_of(await register.asset_history(conn, asset_id, page), to_event)


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
            return json_page_response(await register.list_person_assets(conn, person_id, page))


CONTROLLERS: list[type[Controller]] = [
    AssetController,
    PersonAssetsController,
    *sims.CONTROLLERS,
    *installs.CONTROLLERS,
]
