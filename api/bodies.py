"""JSON request bodies read exactly as their JSON types: run before every /api/v1 request.

Litestar converts a body into its Struct leniently (``strict=False``), as it must for
query strings, so ``"active": 0`` would be read as ``false``, ``"false"`` as ``False`` and
``1.0`` as ``1``. A client that sends those has a bug we should tell it about, not guess
around: each body is decoded strictly here first, and a value of the wrong JSON type is
the same 422 any other unreadable field gets (``api.errors`` reads msgspec's message).
"""

from __future__ import annotations

import typing
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.openapi.spec import OpenAPI, OpenAPIType, Schema
from litestar.params import BodyKwarg, SkipValidationMarker

# Where the app keeps body_types(app) for check_body.
BODY_TYPES = "body_types"
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def body_types(app: Litestar) -> dict[int, Any]:
    """Each route handler's JSON body type, by the handler's id (handlers that read their
    body themselves, marked ``SkipValidation``, read it strictly themselves)."""
    found: dict[int, Any] = {}
    for route in app.routes:
        for handler, _ in getattr(route, "route_handler_map", {}).values():
            field = handler.parsed_fn_signature.parameters.get("data")
            if field is None or typing.get_origin(field.raw) is not typing.Annotated:
                continue
            marks = typing.get_args(field.raw)[1:]
            body = next((m for m in marks if isinstance(m, BodyKwarg)), None)
            if body is None or body.media_type != RequestEncodingType.JSON:
                continue
            if any(isinstance(m, SkipValidationMarker) for m in marks):
                continue
            found[id(handler)] = field.annotation
    return found


def _json_bodies(app: Litestar) -> list[Any]:
    """Every route handler's JSON body type, including those a handler reads itself."""
    found = []
    for route in app.routes:
        for handler, _ in getattr(route, "route_handler_map", {}).values():
            field = handler.parsed_fn_signature.parameters.get("data")
            if field is None or typing.get_origin(field.raw) is not typing.Annotated:
                continue
            marks = typing.get_args(field.raw)[1:]
            body = next((m for m in marks if isinstance(m, BodyKwarg)), None)
            if body is not None and body.media_type == RequestEncodingType.JSON:
                found.append(field.annotation)
    return found


def closed_structs(types: list[Any]) -> dict[str, type]:
    """The Structs in these types (nested ones too) that refuse fields they do not declare
    (``forbid_unknown_fields``), by name."""
    closed: dict[str, type] = {}
    seen: set[type] = set()
    stack: list[Any] = [msgspec.inspect.type_info(t) for t in types]
    while stack:
        info = stack.pop()
        if isinstance(info, msgspec.inspect.StructType):
            if info.cls in seen:
                continue
            seen.add(info.cls)
            if info.forbid_unknown_fields:
                closed[info.cls.__name__] = info.cls
            stack.extend(f.type for f in info.fields)
        elif isinstance(info, msgspec.inspect.UnionType):
            stack.extend(info.types)
        elif isinstance(info, msgspec.inspect.Metadata):
            stack.append(info.type)
        elif isinstance(info, msgspec.inspect.DictType):
            stack.append(info.value_type)
        elif item := getattr(info, "item_type", None):  # lists, sets, variadic tuples
            stack.append(item)
    return closed


def document_bodies(openapi: OpenAPI, app: Litestar) -> None:
    """State in the document that a request body's object takes no other fields
    (``additionalProperties: false``): each such Struct refuses unknown fields with a 422,
    which Litestar's schema does not say. A Struct's rules across its fields
    (``OPENAPI_ALL_OF``, a ClassVar of JSON Schema rules: "left_on only for a leaver") are
    stated too."""
    closed = closed_structs(_json_bodies(app))
    for key, schema in (openapi.components.schemas or {}).items():
        cls = closed.get(str(getattr(schema, "title", None))) or closed.get(key)
        if cls is None or not isinstance(schema, Schema):
            continue
        schema.additional_properties = False
        rules = getattr(cls, "OPENAPI_ALL_OF", None)
        if rules:
            schema.all_of = [_schema(rule) for rule in rules]


def _schema(rule: dict[str, Any]) -> Schema:
    """A JSON Schema rule written as a dict (the domain's) as Litestar's ``Schema``."""
    out = dict(rule)
    if "properties" in out:
        out["properties"] = {k: _schema(v) for k, v in out["properties"].items()}
    if "anyOf" in out:
        out["any_of"] = [_schema(v) for v in out.pop("anyOf")]
    if "maxItems" in out:
        out["max_items"] = out.pop("maxItems")
    if "type" in out:
        out["type"] = OpenAPIType(out["type"])
    return Schema(**out)


async def check_body(request: Request[Any, Any, Any]) -> None:
    """Refuse a JSON body whose values are not exactly of their fields' JSON types."""
    if request.method not in _WITH_BODY:
        return
    target = request.app.state.get(BODY_TYPES, {}).get(id(request.route_handler))
    if target is None or "json" not in request.headers.get("content-type", "json"):
        return
    raw = await request.body()
    if not raw.strip():
        return  # no body: the handler says whether one is required
    try:
        msgspec.json.decode(raw, type=target, strict=True)
    except msgspec.ValidationError as exc:
        if not _readable(raw):
            return
        # The same shape Litestar's own check raises, so the one mapping words it.
        raise ValidationException(extra=[{"key": "data", "message": str(exc)}]) from None
    except (msgspec.DecodeError, RecursionError):
        return  # not JSON at all: Litestar's own reading says so, as it always has


def _readable(raw: bytes) -> bool:
    """Whether the body is JSON at all (a typed decode stops at the first wrong type, so a
    body nested too deeply to read would otherwise be reported as of the wrong type)."""
    try:
        msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return False
    return True
