"""The procurement forms read into the domain's own request Structs (``ContractCreate``,
``PurchaseOrderUpdate``, ...), so a page saves exactly what the API would: the domain checks
the rest and names the field of every problem.

A form's repeated rows (a contract's charges, an order's lines) are ``charges-0-period``,
``lines-2-quantity``, ...; a row left wholly blank is not a row. What cannot even be read
(a date that is not one, an id that is not a number) is refused here, named as the domain
names its fields (``lines.2.quantity``), so every message lands beside its field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Final

from fleetsvc.errors import FieldProblem, ValidationFailed
from fleetsvc.procurement.contracts import ChargeIn, ContractCreate, ContractUpdate
from fleetsvc.procurement.purchase_orders import (
    OrderLineIn,
    PurchaseOrderCreate,
    PurchaseOrderUpdate,
)

BLANK_ROWS: Final = 3  # empty rows a form offers under the ones it has
MAX_ROWS: Final = 200
CHARGE_FIELDS: Final = ("description", "applies_to", "category", "unit_amount", "period")
LINE_FIELDS: Final = ("model_id", "quantity", "unit_cost")


def form_rows(
    values: Mapping[str, str], prefix: str, fields: tuple[str, ...]
) -> list[dict[str, str]]:
    """The form's filled rows ``prefix-N-field`` in order, blank ones left out: the n-th is
    the domain's ``prefix.n`` (and is shown again as row n when the form is corrected)."""
    found = []
    for n in range(MAX_ROWS):
        row = {f: values.get(f"{prefix}-{n}-{f}", "").strip() for f in fields}
        if any(row.values()):
            found.append(row)
    return found


def _amount(value: str) -> str:
    """An amount as people type it (``£1,250.00``) as the domain reads it (``1250.00``)."""
    return value.strip().removeprefix("£").replace(",", "").strip()


class _Reader:
    """Reads a form's values, collecting what cannot be read."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values
        self.problems: list[FieldProblem] = []

    def text(self, name: str) -> str:
        return self.values.get(name, "").strip()

    def optional(self, name: str) -> str | None:
        return self.text(name) or None

    def money(self, name: str) -> str | None:
        return _amount(self.text(name)) or None

    def number(self, value: str, field: str, what: str) -> int:
        if not (value.isascii() and value.isdigit()) or len(value) > 10:
            message = f"choose {what}" if not value else f"{what} must be a whole number"
            self.problems.append(FieldProblem(field, message))
            return 0
        return int(value)

    def day(self, name: str, field: str, *, required: bool) -> dt.date | None:
        value = self.text(name)
        if not value:
            if required:
                self.problems.append(FieldProblem(field, f"{field.replace('_', ' ')} is needed"))
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.problems.append(FieldProblem(field, "a date like 2025-04-01"))
            return None

    def rows(self, prefix: str, fields: tuple[str, ...]) -> list[dict[str, str]]:
        return form_rows(self.values, prefix, fields)

    def check(self) -> None:
        if self.problems:
            raise ValidationFailed(self.problems)


def _charges(r: _Reader) -> list[ChargeIn]:
    return [
        ChargeIn(
            applies_to=row["applies_to"],
            unit_amount=_amount(row["unit_amount"]),
            period=row["period"],
            description=row["description"],
            category=row["category"] or None,
        )
        for row in r.rows("charges", CHARGE_FIELDS)
    ]


def contract_create(values: Mapping[str, str]) -> ContractCreate:
    r = _Reader(values)
    data = ContractCreate(
        reference=r.text("reference"),
        supplier_id=r.number(r.text("supplier_id"), "supplier_id", "a supplier"),
        kind=r.text("kind"),
        starts_on=r.day("starts_on", "starts_on", required=True) or dt.date.min,
        title=r.text("title"),
        ends_on=r.day("ends_on", "ends_on", required=False),
        value_cap=r.money("value_cap"),
        charges=_charges(r),
    )
    r.check()
    return data


def contract_update(values: Mapping[str, str]) -> ContractUpdate:
    """Every field of the form: what did not change is not changed (nor recorded)."""
    created = contract_create(values)
    return ContractUpdate(
        reference=created.reference,
        supplier_id=created.supplier_id,
        kind=created.kind,
        title=created.title,
        starts_on=created.starts_on,
        ends_on=created.ends_on,
        value_cap=created.value_cap,
        charges=created.charges,
    )


def _lines(r: _Reader) -> list[OrderLineIn]:
    lines = []
    for n, row in enumerate(r.rows("lines", LINE_FIELDS)):
        at = f"lines.{n}"
        lines.append(
            OrderLineIn(
                model_id=r.number(row["model_id"], f"{at}.model_id", "a device model"),
                quantity=r.number(
                    row["quantity"].replace(",", ""), f"{at}.quantity", "the quantity"
                ),
                unit_cost=_amount(row["unit_cost"]),
            )
        )
    return lines


def order_create(values: Mapping[str, str]) -> PurchaseOrderCreate:
    r = _Reader(values)
    data = PurchaseOrderCreate(
        number=r.text("number"),
        contract_id=r.number(r.text("contract_id"), "contract_id", "a contract"),
        raised_on=r.day("raised_on", "raised_on", required=True) or dt.date.min,
        status=r.text("status") or "open",
        lines=_lines(r),
    )
    r.check()
    return data


def order_update(values: Mapping[str, str]) -> PurchaseOrderUpdate:
    created = order_create(values)
    return PurchaseOrderUpdate(
        number=created.number,
        contract_id=created.contract_id,
        raised_on=created.raised_on,
        status=created.status,
        lines=created.lines,
    )


def version_of(values: Mapping[str, str]) -> int:
    """The version the form was opened at (a form without one is refused as stale)."""
    value = values.get("version", "")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 12 else 0
