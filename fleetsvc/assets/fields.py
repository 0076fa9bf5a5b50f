"""An asset's fields as a caller gives them, normalised and checked: the serial, the IMEI
(strict: 15 digits, Luhn-valid), the asset tag and supplier references, money, dates, and
the records it names (device model, contract, purchase order), which must exist.

Registering (``fleetsvc.assets.register``) and changing (``fleetsvc.assets.changes``)
check through here, so both name a bad field the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import asyncpg

from fleetsvc import identifiers
from fleetsvc.checks import REGISTER_DATE, cell_text, documented_cell_text
from fleetsvc.errors import FieldProblem, ValidationFailed
from fleetsvc.records import MAX_ID
from fleetsvc.vocabulary import CREATABLE, documented
from importers.fields import (
    FieldError,
    normalise_imei,
    normalise_serial,
    parse_money,
    register_date,
)

T = TypeVar("T")

MAX_MONEY = Decimal("9999999999.99")  # numeric(12, 2)

# The fields' rules in the OpenAPI document (``_field`` checks them).
Serial = Annotated[str, documented(**identifiers.SERIAL)]
Imei = Annotated[str, documented(**identifiers.or_empty(identifiers.IMEI))]
AssetTag = Annotated[str, documented_cell_text(32, required=False)]
Reference = Annotated[str, documented_cell_text(64, required=False)]
Notes = Annotated[str, documented_cell_text(10_000, required=False)]
# An amount as a client should write it (parse_money also reads "£289" and "289,00").
Money = Annotated[str, documented(pattern="^[0-9]{1,10}(?:\\.[0-9]{1,2})?$")]
Day = Annotated[dt.date, REGISTER_DATE]


def optional_text(value: Any, max_len: int) -> str | None:
    if value is None:
        return None
    text = cell_text(str(value), max_len)
    return text or None


def _money(value: Any) -> Decimal | None:
    if value is None:
        return None
    amount = parse_money(value)
    if amount > MAX_MONEY:
        raise FieldError("amount is too large")
    return amount


def strict_imei(value: str) -> str:
    """The API is strict: a 15-digit, Luhn-valid IMEI (no check digit is guessed)."""
    imei, warning = normalise_imei(value)
    if warning is not None:
        raise FieldError("IMEI must be 15 digits; this has 14")
    return imei


def normalised(field: str, value: str, normalise: Callable[[str], T]) -> T:
    """``normalise(value)``, or a 422 naming ``field`` with the reason."""
    try:
        return normalise(value)
    except FieldError as exc:
        raise ValidationFailed.one(field, exc.message) from None


def _field(key: str, value: Any) -> Any:
    """One field, normalised; a FieldError says what is wrong with it."""
    if key == "serial_number":
        return normalise_serial(str(value))
    if key == "imei":
        return None if value in (None, "") else strict_imei(str(value))
    if key == "asset_tag":
        return optional_text(value, 32)
    if key in ("supplier_order_ref", "delivery_ref"):
        return optional_text(value, 64)
    if key in ("unit_cost", "replacement_cost_override"):
        return _money(value)
    if key == "notes":
        return cell_text("" if value is None else str(value), 10_000)
    if key == "status":
        if value not in CREATABLE:
            raise FieldError(f"a new asset's status must be one of {', '.join(CREATABLE)}")
        return value
    if key in ("delivered_on", "refresh_due_override"):
        return None if value is None else register_date(value)
    if key in ("model_id", "purchase_order_id", "contract_id"):
        if value is not None and not 1 <= int(value) <= MAX_ID:
            raise FieldError(f"{key} is not a valid id")
        return value
    return value


def asset_fields(
    item: Mapping[str, Any], prefix: str = ""
) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Normalise one asset's fields; every problem is named by its (prefixed) field."""
    out: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for key, value in item.items():
        try:
            out[key] = _field(key, value)
        except FieldError as exc:
            problems.append(FieldProblem(f"{prefix}{key}", exc.message))
    if "model_id" in item and item["model_id"] is None:
        problems.append(FieldProblem(f"{prefix}model_id", "model_id is required"))
    return out, problems


# --- the records an asset names ---------------------------------------------------------------


async def _existing_ids(
    conn: asyncpg.Connection, table: str, ids: Iterable[int | None]
) -> set[int]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return set()
    rows = await conn.fetch(f"SELECT id FROM {table} WHERE id = ANY($1::int[])", wanted)
    return {r["id"] for r in rows}


async def _models(conn: asyncpg.Connection, ids: Iterable[int]) -> dict[int, asyncpg.Record]:
    wanted = sorted({i for i in ids if i is not None})
    rows = await conn.fetch(
        "SELECT id, lower(btrim(manufacturer)) AS maker, category, lifecycle_months"
        " FROM device_model WHERE id = ANY($1::int[])",
        wanted,
    )
    return {r["id"]: r for r in rows}


async def reference_problems(
    conn: asyncpg.Connection, items: Sequence[tuple[str, Mapping[str, Any]]]
) -> tuple[dict[int, asyncpg.Record], list[FieldProblem]]:
    """Check the model, contract and purchase order each item names exist (3 queries).

    ``items`` are (field prefix, normalised fields); the models found are returned with
    their maker (lower-cased, as assets store it), category and lifecycle.
    """
    models = await _models(conn, (v["model_id"] for _, v in items if "model_id" in v))
    contracts = await _existing_ids(conn, "contract", (v.get("contract_id") for _, v in items))
    orders = await _existing_ids(
        conn, "purchase_order", (v.get("purchase_order_id") for _, v in items)
    )
    problems = []
    for prefix, v in items:
        if v.get("model_id") is not None and v["model_id"] not in models:
            problems.append(
                FieldProblem(f"{prefix}model_id", f"no device model with id {v['model_id']}")
            )
        if v.get("contract_id") is not None and v["contract_id"] not in contracts:
            problems.append(
                FieldProblem(f"{prefix}contract_id", f"no contract with id {v['contract_id']}")
            )
        if v.get("purchase_order_id") is not None and v["purchase_order_id"] not in orders:
            problems.append(
                FieldProblem(
                    f"{prefix}purchase_order_id",
                    f"no purchase order with id {v['purchase_order_id']}",
                )
            )
    return models, problems
