"""Amounts in supplier files: GBP prices to the penny and quantities of items."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Final

from importers.fields.cells import WHITESPACE, CellValue, FieldError, tidy_text

_PENNY: Final = Decimal("0.01")
_PLAIN_NUMBER = re.compile(r"[0-9]*\.?[0-9]+|[0-9]+\.")
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")
_DECIMAL_COMMA = re.compile(r"[0-9]+,[0-9]{2}")  # "689,00" from a European-locale Excel
_MONEY_HINT = "use a GBP amount such as £1,234.50"


def _number_text(text: str) -> str | None:
    """Plain decimal text from "1,234.50" or "1234.5"; None if it is not a number."""
    if _PLAIN_NUMBER.fullmatch(text):
        return text
    if _THOUSANDS.fullmatch(text):
        return text.replace(",", "")
    return None


def _decimal_of(value: int | float | Decimal) -> Decimal:
    # Floats go through repr (the shortest text that round-trips), never binary arithmetic.
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


_MONEY_LIMIT = Decimal(10) ** 10


def parse_money(value: CellValue) -> Decimal:
    """A GBP amount quantized to pence; negatives, fractions of a penny and garbage rejected."""
    if isinstance(value, bool):
        raise FieldError(f"price is not a number; {_MONEY_HINT}")
    if isinstance(value, int | float | Decimal):
        amount = _decimal_of(value)
    elif isinstance(value, str):
        amount = _money_from_text(value)
    else:
        raise FieldError(f"price is not a number; {_MONEY_HINT}")
    if not amount.is_finite():
        raise FieldError(f"price is not a number; {_MONEY_HINT}")
    if amount < 0:
        raise FieldError("price is negative")
    if amount >= _MONEY_LIMIT:
        # The register keeps money as numeric(12, 2); a larger price is a mistake.
        raise FieldError("price is too large; the most a price can be is £9,999,999,999.99")
    pence = amount.quantize(_PENNY)
    if pence != amount:
        raise FieldError("price has more than two decimal places")
    return pence


def _money_from_text(value: str) -> Decimal:
    text = WHITESPACE.sub("", tidy_text(value))
    if text.startswith("-") or (text.startswith("(") and text.endswith(")")):
        raise FieldError("price is negative")
    text = text.removeprefix("£")
    upper = text.upper()
    if upper.endswith("GBP"):
        text = text[:-3]
    elif upper.startswith("GBP"):
        text = text[3:]
    text = text.removeprefix("£")
    if text.startswith("-"):
        raise FieldError("price is negative")
    number = _number_text(text)
    if number is None and _DECIMAL_COMMA.fullmatch(text):
        number = text.replace(",", ".")
    if number is None:
        raise FieldError(f"price not recognised; {_MONEY_HINT}")
    try:
        return Decimal(number)
    except InvalidOperation:
        raise FieldError(f"price not recognised; {_MONEY_HINT}") from None


def parse_quantity(value: CellValue) -> int:
    """A whole number of items, 1 or more ("1.0" is fine; "1.5", "0" and "-1" are not)."""
    message = "quantity must be a whole number, 1 or more"
    if isinstance(value, bool):
        raise FieldError(message)
    if isinstance(value, int | float | Decimal):
        number = _decimal_of(value)
    elif isinstance(value, str):
        tidy = value if value.isdigit() and value.isascii() else tidy_text(value)
        if tidy.isdigit() and tidy.isascii():  # the usual "1", without regex or Decimal
            number_int = int(tidy)
            if number_int < 1:
                raise FieldError(message)
            return number_int
        text = _number_text(WHITESPACE.sub("", tidy))
        if text is None:
            raise FieldError(message)
        number = Decimal(text)
    else:
        raise FieldError(message)
    if not number.is_finite() or number != number.to_integral_value() or number < 1:
        raise FieldError(message)
    return int(number)
