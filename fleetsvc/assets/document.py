"""The asset as the API shows it, declared once: the ``Asset`` Struct, and the SQL that
has PostgreSQL write the same document as JSON text (``DOCUMENT_SELECT``).

The read paths (one asset, list pages) pass PostgreSQL's JSON through without building
Python objects per row; the writes read the same JSON back as an ``Asset``
(``as_asset``). The SQL's column lists are derived from the Structs' fields: their
names, their order, and how instants and money are written. So a column of the asset
table joins the document with one field in ``Asset``; a field read from elsewhere also
needs its source in ``_ASSET_SOURCES``. tests/api/test_assets_documents.py checks the
document against the tables, byte for byte.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Union, get_args, get_origin

import msgspec

from fleetsvc.vocabulary import AssetStatus, Category, Compliance, one_of


class _MoneyText:
    """Marks a ``str`` field that holds money, so the SQL writes it as the API does."""


# Money as the API writes it: a decimal string with two places ("289.00").
Money = Annotated[str, _MoneyText()]


class AssetModel(msgspec.Struct):
    id: int
    manufacturer: str
    model_name: str
    category: Annotated[str, one_of(Category)]


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
    last_seen_at: dt.datetime | None
    compliance: Annotated[str, one_of(Compliance, nullable=True)] | None
    os_version: str | None
    user_upn: str | None


class Asset(msgspec.Struct):
    id: int
    serial_number: str
    manufacturer: str
    imei: str | None
    asset_tag: str | None
    status: Annotated[str, one_of(AssetStatus)]
    model: AssetModel
    sim: AssetSim | None
    holder: Holder | None
    location: str | None  # the code of the store or station it is kept at (none if held)
    purchase_order_id: int | None
    contract_id: int | None
    supplier_order_ref: str | None
    delivery_ref: str | None
    unit_cost: Money | None
    delivered_on: dt.date | None
    in_service_on: dt.date | None
    refresh_due_on: dt.date | None
    refresh_due_override: dt.date | None
    replacement_cost_override: Money | None
    mdm: MdmFacts | None
    disposal_certificate_ref: str | None
    notes: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


_decoder = msgspec.json.Decoder(Asset)


def as_asset(document: str | bytes) -> Asset:
    """The document PostgreSQL wrote, as the Struct (what the writes answer with)."""
    return _decoder.decode(document)


# --- the same document, written by PostgreSQL -----------------------------------------------

# One asset with everything a caller needs to act on it, in one query: its
# model, its SIM, who or what holds it (a person, or a vehicle install), and its
# MDM record (its primary mdm_device row: the MDM's facts and last check-in live there).
ASSET_FROM = """
FROM asset a
JOIN device_model m ON m.id = a.model_id
LEFT JOIN person p ON p.id = a.person_id
LEFT JOIN sim s ON s.asset_id = a.id
LEFT JOIN LATERAL (
    SELECT i.id AS install_id, i.vehicle_id FROM install i
    WHERE i.removed_on IS NULL AND i.tablet_id = a.id
    UNION ALL
    SELECT i.id, i.vehicle_id FROM install i WHERE i.removed_on IS NULL AND i.dock_id = a.id
    LIMIT 1
) h ON true
LEFT JOIN vehicle v ON v.id = h.vehicle_id
LEFT JOIN mdm_device md ON md.asset_id = a.id AND md.is_primary"""


def _utc_instant(col: str) -> str:
    """An instant as the API writes it (msgspec's RFC 3339): UTC with ``Z``, and six
    digits of fraction only when there is a fraction."""
    return (
        f"replace(to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
        " '.000000Z', 'Z')"
    )


def _money_text(col: str) -> str:
    """Money as the API writes it: a decimal string with two places (``"289.00"``)."""
    return f"round({col}, 2)::text"


def _written(annotation: object, source: str) -> str:
    """``source`` written as msgspec writes a field of this type. Dates, numbers, text
    and nulls ``row_to_json`` already writes the same way; instants and money not."""
    kinds = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    for kind in kinds or (annotation,):
        if kind is dt.datetime:
            return _utc_instant(source)
        if kind == Money:
            return _money_text(source)
    return source


def _columns(
    struct: type[msgspec.Struct], sources: Mapping[str, str], table: str | None = None
) -> str:
    """``struct``'s fields as a SELECT list, in its order and under its names: each read
    from ``sources``, else from ``table``'s column of the same name, else NULL."""
    columns = []
    for field in msgspec.structs.fields(struct):
        source = sources.get(field.name) or (f"{table}.{field.name}" if table else "NULL")
        columns.append(f"{_written(field.type, source)} AS {field.name}")
    unknown = set(sources) - set(struct.__struct_fields__)
    assert not unknown, f"{struct.__name__} has no fields {sorted(unknown)}"
    return ",\n           ".join(columns)


# Where each field comes from when it is not the column of the same name: a holder is
# a person (when the asset is issued to one) or a vehicle (through an active install).
_PERSON_HOLDER = {
    "kind": "'person'::text",
    "person_id": "a.person_id",
    "display_name": "p.display_name",
    "employee_number": "p.employee_number",
}
_VEHICLE_HOLDER = {
    "kind": "'vehicle'::text",
    "vehicle_id": "h.vehicle_id",
    "vrm": "v.vrm",
    "fleet_number": "v.fleet_number",
    "install_id": "h.install_id",
}
_MDM_SOURCES = {
    "device_id": "md.mdm_device_id",
    "last_seen_at": "md.last_sync_at",
    "compliance": "md.compliance",
    "os_version": "md.os_version",
    "user_upn": "md.user_upn",
}
_ASSET_SOURCES = {
    "model": "doc_model",
    "sim": "CASE WHEN s.id IS NOT NULL THEN doc_sim END",
    "holder": "CASE WHEN a.person_id IS NOT NULL THEN doc_person"
    " WHEN h.install_id IS NOT NULL THEN doc_vehicle END",
    "mdm": "CASE WHEN md.id IS NOT NULL THEN doc_mdm END",
    "location": "(SELECT l.code FROM location l WHERE l.id = a.location_id)",
}

# The asset as the ``Asset`` document, built by PostgreSQL as JSON text. Each object is
# a row of named columns and ``row_to_json`` writes it (compact, in column order, about
# a quarter cheaper in PostgreSQL than nested ``json_build_object`` calls).
_DOCUMENT_FROM = f"""
CROSS JOIN LATERAL (SELECT {_columns(AssetModel, {}, "m")}) AS doc_model
CROSS JOIN LATERAL (SELECT {_columns(AssetSim, {}, "s")}) AS doc_sim
CROSS JOIN LATERAL (SELECT {_columns(Holder, _PERSON_HOLDER)}) AS doc_person
CROSS JOIN LATERAL (SELECT {_columns(Holder, _VEHICLE_HOLDER)}) AS doc_vehicle
CROSS JOIN LATERAL (SELECT {_columns(MdmFacts, _MDM_SOURCES)}) AS doc_mdm
CROSS JOIN LATERAL (SELECT {_columns(Asset, _ASSET_SOURCES, "a")}) AS doc"""

# Filters and ORDER BY go after this (the asset is ``a``).
DOCUMENT_SELECT = f"SELECT a.id, a.version, row_to_json(doc) AS doc{ASSET_FROM}{_DOCUMENT_FROM}"
