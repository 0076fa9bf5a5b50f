"""A text field's limit, as the document states it, is the limit the service keeps.

Most text is trimmed; a field whose pattern allows the spaces around it and that has a
``maxLength`` is then counted as sent, spaces included, by the document. make fuzz found
three that the service counted once trimmed (a serial, a business unit's code, a
delivery_ref of 65 NELs): it took values the document refuses. This walks every JSON
request body of the document, so a new field is checked too.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import httpx

from tests.conftest import unique

# Bodies that the service reads (the right types, required fields present), per schema;
# a nested object or list holds one item, for the walk's index 0.
_MINIMAL: dict[str, dict[str, Any]] = {
    "AssetCreate": {"model_id": 1, "serial_number": "S1"},
    "AssetBatch": {"items": [{"model_id": 1, "serial_number": "S1"}]},
    "BusinessUnitCreate": {"code": "A1", "name": "x"},
    "ContractCreate": {
        "kind": "airtime",
        "reference": "A1",
        "starts_on": "2024-04-01",
        "supplier_id": 1,
        "charges": [{"applies_to": "sim", "period": "month", "unit_amount": "1.00"}],
    },
    "DeviceModelCreate": {
        "category": "accessory",
        "manufacturer": "x",
        "model_name": "x",
        "aliases": ["x"],
        "part_numbers": ["x"],
    },
    "InstallCreate": {"installed_on": "2024-04-01", "job_reference": "x", "tablet_id": 1},
    "LicencePoolCreate": {"contract_id": 1, "licence_key": "x", "product": "x", "seats": 1},
    "LocationCreate": {"code": "A1", "name": "x"},
    "PersonCreate": {"display_name": "x", "employee_number": "A1"},
    "PurchaseOrderCreate": {"contract_id": 1, "number": "A1", "raised_on": "2024-04-01"},
    "ScanBatch": {"codes": ["x"]},
    "SupplierCreate": {"name": "x"},
    "TokenCreate": {"name": "x", "role": "auditor"},
    "Transition": {"to": "in_repair", "reason": "x"},
    "VehicleCreate": {"fleet_number": "A1", "vrm": "AB12CDE"},
    "WriteOff": {"reason": "x"},
}
# What a path's ids are: none of these exists, and each field is checked first.
_NO_RECORD = "2147483647"


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = doc["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _limited_text(
    doc: dict[str, Any], node: dict[str, Any], at: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """Every field under ``node`` with a maxLength and a pattern: (where, its schema)."""
    node = _resolve(doc, node)
    if "maxLength" in node and "pattern" in node:
        yield at, node
    for alternative in (*node.get("oneOf", ()), *node.get("anyOf", ())):
        if "$ref" in alternative:
            yield from _limited_text(doc, alternative, at)
    for key, field in node.get("properties", {}).items():
        yield from _limited_text(doc, field, (*at, key))
    if isinstance(node.get("items"), dict):
        yield from _limited_text(doc, node["items"], (*at, 0))


def _padded(field: dict[str, Any]) -> tuple[str, str] | None:
    """A value the field takes, and the same value between spaces one character beyond its
    maxLength (which the document refuses); None if the pattern takes no space around."""
    pattern = re.compile(field["pattern"])
    # Unique, so that no value is refused as one already registered (an asset tag, a code).
    for value in (unique("A"), f"{unique('a')}@force.police.uk"):
        if pattern.fullmatch(value) and pattern.fullmatch(f" {value} "):
            left = (field["maxLength"] + 1 - len(value)) // 2
            right = field["maxLength"] + 1 - len(value) - left
            return value, " " * left + value + " " * right
    return None


def _with(body: dict[str, Any], at: tuple[str | int, ...], value: str) -> dict[str, Any]:
    out = copy.deepcopy(body)
    container: Any = out
    for step in at[:-1]:
        container = container[step]
    container[at[-1]] = value
    return out


def _named(response: httpx.Response, at: tuple[str | int, ...]) -> bool:
    """Whether the service's answer names the field as a problem."""
    if response.status_code != 422:
        return False
    where = ".".join(str(step) for step in at)
    return any(
        e.get("field", "").split(".")[-len(at) :] == where.split(".")
        for e in response.json().get("errors", [])
    )


def _bodies(doc: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(method, path, schema name) of every JSON request body."""
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref")
            if ref:
                yield method, path, ref.rsplit("/", 1)[-1]


async def test_a_text_limit_counts_the_spaces_the_document_counts(admin: httpx.AsyncClient) -> None:
    doc = (await admin.get("/schema/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    checked: list[str] = []
    for method, path, name in _bodies(doc):
        fields = [(at, f) for at, f in _limited_text(doc, schemas[name]) if _padded(f)]
        if not fields:
            continue
        if method == "patch":
            # A change's fields are its record's: the same rule as the create's, checked there.
            create = dict(_limited_text(doc, schemas[name.replace("Update", "Create")]))
            for at, field in fields:
                rule = (field["maxLength"], field["pattern"])
                assert (create[at]["maxLength"], create[at]["pattern"]) == rule, (name, at)
            continue
        assert name in _MINIMAL, f"{name} ({method.upper()} {path}) needs a minimal body here"
        url = re.sub(r"\{[^}]+\}", _NO_RECORD, path)
        for at, field in fields:
            value, padded = _padded(field) or ("", "")
            fits = await admin.request(method, url, json=_with(_MINIMAL[name], at, value))
            assert not _named(fits, at), (name, at, fits.text)
            beyond = await admin.request(method, url, json=_with(_MINIMAL[name], at, padded))
            assert _named(beyond, at), (name, at, field["maxLength"], beyond.text)
            checked.append(f"{name}.{'.'.join(map(str, at))}")
    # The walk reached the fields make fuzz found, and the rest of the free text.
    assert {"AssetCreate.delivery_ref", "AssetCreate.notes", "BusinessUnitCreate.name"} <= set(
        checked
    ), checked
    assert len(checked) >= 25, checked


async def test_a_business_units_code_is_bounded_once_trimmed(admin: httpx.AsyncClient) -> None:
    # make fuzz sent a code of 16 characters and a space (beyond the maxLength), taken.
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from fleetsvc.business_units import BusinessUnitCreate, _check_business_unit
    from fleetsvc.errors import ValidationFailed

    doc = (await admin.get("/schema/openapi.json")).json()
    for name in ("BusinessUnitCreate", "BusinessUnitUpdate"):
        code = doc["components"]["schemas"][name]["properties"]["code"]
        assert "maxLength" not in code, name
    pattern = re.compile(code["pattern"])

    def taken(value: str) -> bool:
        try:
            _check_business_unit(BusinessUnitCreate(code=value, name="x"))
        except ValidationFailed:
            return False
        return True

    @settings(max_examples=1500, deadline=None)
    @given(
        st.text("aZ9-\x85 \u3000\t", max_size=20)
        | st.from_regex(pattern, fullmatch=True)
        | st.from_regex(r"\A[ ]{0,3}[A-Z-]{14,18}[ ]{0,3}\Z")
    )
    def same_verdict(value: str) -> None:
        assert bool(pattern.fullmatch(value)) == taken(value), repr(value)

    same_verdict()
    sixteen = unique("B").ljust(15, "-") + "9"
    r = await admin.post("/api/v1/business-units", json={"code": f" {sixteen}\u3000", "name": "x"})
    assert r.status_code == 201 and r.json()["code"] == sixteen, r.text
    assert pattern.fullmatch(f" {sixteen}\u3000") and not pattern.fullmatch(sixteen + "9")
    r = await admin.post("/api/v1/business-units", json={"code": sixteen + "9", "name": "x"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "code", r.text
