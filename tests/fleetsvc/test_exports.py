"""Formula injection is neutralised in every exported cell."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from fleetsvc.exports import csv_text, safe_cell


@pytest.mark.parametrize(
    "text",
    [
        "=1+1",
        "+44 7700",
        "-2",
        "@SUM(A1)",
        "\tx",
        "\rx",
        "\nx",
        '=HYPERLINK("http://x")',
        " =1+1",  # leading white space: Excel still reads a formula
        "\u00a0\u00a0+1",
        "\uff1d1+1",  # full-width = + - @, which Excel takes too
        "\uff0b1",
        "\uff0d1",
        "\uff20SUM(A1)",
        "\u3000\uff1d1",
    ],
)
def test_formula_text_is_neutralised(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize(
    "value", ["Samsung", "", " ", "a=b", "O'Neill", "'quoted", 5, Decimal("-3.50"), None]
)
def test_other_values_are_unchanged(value: object) -> None:
    assert safe_cell(value) == value


def test_csv_text_neutralises_header_and_cells() -> None:
    text = csv_text(["serial", "=note"], [["=cmd|' /C calc'!A0", None], ["R58", 3]])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["serial", "'=note"], ["'=cmd|' /C calc'!A0", ""], ["R58", "3"]]


@pytest.mark.parametrize("text", [" =1+1", "\uff1d1+1", "=1+1", " \uff20x"])
def test_an_exported_cell_reads_back_as_it_was(text: str) -> None:
    """A rejected.csv row corrected and uploaded again: the apostrophe goes, the text stays
    (clean_text trims white space, as it does for every cell)."""
    from importers.fields import clean_text

    assert clean_text(safe_cell(text)) == text.strip()
