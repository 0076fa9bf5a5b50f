"""Formula injection is neutralised in every exported cell."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from fleetsvc.exports import csv_text, safe_cell


@pytest.mark.parametrize(
    "text", ["=1+1", "+44 7700", "-2", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")']
)
def test_formula_text_is_neutralised(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["Samsung", "", 5, Decimal("-3.50"), None])
def test_other_values_are_unchanged(value: object) -> None:
    assert safe_cell(value) == value


def test_csv_text_neutralises_header_and_cells() -> None:
    text = csv_text(["serial", "=note"], [["=cmd|' /C calc'!A0", None], ["R58", 3]])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["serial", "'=note"], ["'=cmd|' /C calc'!A0", ""], ["R58", "3"]]
