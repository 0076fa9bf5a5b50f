"""Prices and quantities (importers/fields/amounts.py)."""

from decimal import Decimal

import pytest

from importers.fields import (
    FieldError,
    parse_money,
    parse_quantity,
)

# --- money and quantity --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("£1,234.50", "1234.50"),
        ("1234.5", "1234.50"),
        ("1,234.50 GBP", "1234.50"),
        (" £689.00", "689.00"),
        ("GBP 41", "41.00"),
        ("689,00", "689.00"),  # decimal comma from a semicolon-locale Excel
        ("1.500", "1.50"),  # trailing zeros are not extra pence
        (689.0, "689.00"),
        (0.1, "0.10"),
        (1234, "1234.00"),
        (Decimal("12.3"), "12.30"),
    ],
)
def test_money_accepted(value: object, expected: str) -> None:
    result = parse_money(value)  # type: ignore[arg-type]
    assert result == Decimal(expected) and str(result) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5.00", "negative"),
        ("(5.00)", "negative"),
        ("£-5", "negative"),
        (-1.0, "negative"),
        ("1.234", "more than two decimal places"),
        (0.1 + 0.2, "more than two decimal places"),  # the float is not 0.30
        ("$12", "not recognised"),
        ("12,3456", "not recognised"),
        ("NaN", "not recognised"),
        ("1e3", "not recognised"),
        ("twelve", "not recognised"),
    ],
)
def test_money_rejected(value: object, message: str) -> None:
    with pytest.raises(FieldError, match=message):
        parse_money(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"), [("1", 1), ("1.0", 1), (250, 250), (1.0, 1), ("1,000", 1000)]
)
def test_quantity_accepted(value: object, expected: int) -> None:
    assert parse_quantity(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["1.5", "0", "-1", 0, 1.5, "one", True])
def test_quantity_rejected(value: object) -> None:
    with pytest.raises(FieldError, match="whole number"):
        parse_quantity(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["1" * 30, "£12,345,678,901.00", 1e40, "10000000000"])
def test_huge_prices_are_row_errors_not_crashes(value: object) -> None:
    with pytest.raises(FieldError, match="price is too large"):
        parse_money(value)  # type: ignore[arg-type]


def test_largest_price_is_accepted() -> None:
    assert parse_money("9999999999.99") == Decimal("9999999999.99")


# --- fast paths: a clean cell and the same value spelt messily normalise alike, and
# a clean-looking bad value is still refused with the same message


def test_quantity_fast_path() -> None:
    assert parse_quantity("1") == parse_quantity(" 1 ") == 1
    with pytest.raises(FieldError):
        parse_quantity("0")
