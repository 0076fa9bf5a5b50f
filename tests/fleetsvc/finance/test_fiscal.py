"""UK financial years: April to March, written 2025/26."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetsvc.finance.fiscal import (
    current_fy,
    fy_end,
    fy_label,
    fy_of,
    fy_slug,
    fy_start,
    months_in_force,
    parse_fy,
)


def test_the_year_turns_on_the_first_of_april() -> None:
    assert fy_label(fy_of(dt.date(2025, 3, 31))) == "2024/25"
    assert fy_label(fy_of(dt.date(2025, 4, 1))) == "2025/26"
    assert fy_of(dt.date(2025, 12, 31)) == 2025
    assert fy_of(dt.date(2026, 1, 1)) == 2025


def test_labels_and_file_names() -> None:
    assert fy_label(2025) == "2025/26"
    assert fy_label(1999) == "1999/00"
    assert fy_slug(2024) == "2024-25"
    assert fy_start(2025) == dt.date(2025, 4, 1)
    assert fy_end(2025) == dt.date(2026, 3, 31)


@pytest.mark.parametrize("text,year", [("2025/26", 2025), (" 2024/25 ", 2024), ("1999/00", 1999)])
def test_parse_accepts_financial_years(text: str, year: int) -> None:
    assert parse_fy(text) == year


@pytest.mark.parametrize(
    "text", ["2025-26", "2025/27", "2025", "25/26", "2025/2026", "", "abcd/ef"]
)
def test_parse_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="2025/26"):
        parse_fy(text)


def test_current_year_follows_today() -> None:
    assert current_fy(dt.date(2026, 2, 1)) == 2025
    assert current_fy(dt.date(2026, 4, 1)) == 2026


@given(st.dates(min_value=dt.date(1901, 1, 1), max_value=dt.date(9998, 12, 31)))
def test_every_date_falls_in_exactly_one_financial_year(day: dt.date) -> None:
    containing = [y for y in (day.year - 1, day.year) if fy_start(y) <= day <= fy_end(y)]
    assert containing == [fy_of(day)]
    assert parse_fy(fy_label(fy_of(day))) == fy_of(day)


def test_whole_months_in_force() -> None:
    # in force all year
    assert months_in_force(dt.date(2021, 4, 1), None, 2025) == 12
    # ends on 30 September: April to September
    assert months_in_force(dt.date(2021, 4, 1), dt.date(2026, 9, 30), 2026) == 6
    # a part month counts in full: in force on 1 October
    assert months_in_force(dt.date(2021, 4, 1), dt.date(2026, 10, 1), 2026) == 7
    # starts on 15 January: January to March
    assert months_in_force(dt.date(2026, 1, 15), None, 2025) == 3
    # not in force at all that year
    assert months_in_force(dt.date(2021, 4, 1), dt.date(2025, 3, 31), 2025) == 0
    assert months_in_force(dt.date(2027, 4, 1), None, 2025) == 0
