"""Forecast parameters: defaults, limits and the output format, as the service reads them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from fleetsvc.errors import ValidationFailed
from fleetsvc.finance.forecast import (
    forecast_params,
    output_format,
)

pytestmark = pytest.mark.usefixtures("app")

D = Decimal


def test_parameters_default_to_this_year_and_five_years() -> None:
    p = forecast_params(None, None, None, today=dt.date(2026, 1, 10))
    assert (p.first_year, p.years, p.group_by) == (2025, 5, "model")
    assert p.labels == ["2025/26", "2026/27", "2027/28", "2028/29", "2029/30"]
    assert p.horizon_start == dt.date(2025, 4, 1)
    assert p.horizon_last_day == dt.date(2030, 3, 31)


@pytest.mark.parametrize(
    "args,field,message",
    [
        (("2025-26", "5", None), "from", "a financial year like 2025/26"),
        (("2025/27", "5", None), "from", "a financial year like 2025/26"),
        (("2025/26", "0", None), "years", "a whole number of years from 1 to 20"),
        (("2025/26", "500", None), "years", "a whole number of years from 1 to 20"),
        (("2025/26", "two", None), "years", "a whole number of years from 1 to 20"),
        (("2025/26", "5", "colour"), "group_by", "one of model, category, contract, business_unit"),
        (
            ("9995/96", "5", None),
            "from",
            "a financial year like 2025/26; the forecast's last year must be 9998/99 or earlier",
        ),
    ],
)
def test_bad_parameters_say_what_is_accepted(args: tuple[Any, ...], field: str, message: str):
    with pytest.raises(ValidationFailed) as caught:
        forecast_params(*args)
    assert [(p.field, p.message) for p in caught.value.problems] == [(field, message)]


def test_the_last_possible_year_is_accepted() -> None:
    p = forecast_params("9994/95", "5", None)
    assert p.labels[-1] == "9998/99"
    assert p.horizon_last_day == dt.date(9999, 3, 31)


def test_output_format_from_parameter_or_accept() -> None:
    assert output_format(None, None) == "json"
    assert output_format(None, "text/csv") == "csv"
    assert output_format("xlsx", "text/csv") == "xlsx"
    # Exactly as the document's enum lists them: empty, padded or upper-case is refused.
    for fmt in ("pdf", "", " csv", "XLSX"):
        with pytest.raises(ValidationFailed) as caught:
            output_format(fmt)
        assert caught.value.problems[0].field == "format"


# --- the refresh forecast ---------------------------------------------------------------------
