"""Dates and timestamps: UK day-first text, ISO, Excel serials (importers/fields/dates.py)."""

import datetime as dt

import pytest

from importers.fields import (
    FieldError,
    parse_date,
    parse_timestamp,
)

JAN_3 = dt.date(2023, 1, 3)


@pytest.mark.parametrize(
    "value",
    [
        "03/01/2023",
        "03/01/2023 00:00",  # a date-and-time cell, as Excel saves it to CSV
        "03/01/2023 14:30:15",
        "3/1/2023",
        "03/01/23",
        "2023-01-03",
        "3-Jan-23",
        "03 January 2023",
        "3 Jan 2023",
        "44929",
        44929,
        44929.0,
        44929.5,  # a time of day on 3 January
        dt.datetime(2023, 1, 3, 0, 0),
        JAN_3,
    ],
)
def test_dates_accepted(value: object) -> None:
    assert parse_date(value) == JAN_3  # type: ignore[arg-type]


def test_day_first_always() -> None:
    assert parse_date("01/02/2023") == dt.date(2023, 2, 1)
    assert parse_date("12/11/2022") == dt.date(2022, 11, 12)


@pytest.mark.parametrize(
    "value",
    ["31/02/2023", "2023-13-01", "01/02", "12/31/2023", "Jan 3 2023", "3-Foo-23", "tomorrow", ""],
)
def test_ambiguous_or_impossible_dates_rejected_saying_what_is_accepted(value: str) -> None:
    with pytest.raises(FieldError, match="DD/MM/YYYY"):
        parse_date(value)


def test_timestamps() -> None:
    utc = dt.UTC
    assert parse_timestamp("2026-10-21 20:35:00.0000000") == dt.datetime(
        2026, 10, 21, 20, 35, tzinfo=utc
    )
    assert parse_timestamp("2026-10-21T20:35:00.1234567Z") == dt.datetime(
        2026, 10, 21, 20, 35, 0, 123456, tzinfo=utc
    )
    assert parse_timestamp("2026-10-21T21:35:00+01:00") == dt.datetime(
        2026, 10, 21, 20, 35, tzinfo=utc
    )
    assert parse_timestamp(dt.datetime(2026, 10, 21, 20, 35)).tzinfo == utc


@pytest.mark.parametrize("value", ["21/10/2026 20:35", "2026-02-30 10:00:00", "yesterday"])
def test_bad_timestamps_rejected(value: str) -> None:
    with pytest.raises(FieldError):
        parse_timestamp(value)


@pytest.mark.parametrize("value", [12, 99999, "10000", True, dt.time(12, 0)])
def test_implausible_serials_and_non_dates_rejected(value: object) -> None:
    with pytest.raises(FieldError):
        parse_date(value)  # type: ignore[arg-type]


# --- fast paths: a clean cell and the same value spelt messily normalise alike, and
# a clean-looking bad value is still refused with the same message


def test_a_repeated_date_reads_the_same_and_a_bad_one_is_still_refused() -> None:
    assert parse_date("14/11/2022") == parse_date("14/11/2022") == dt.date(2022, 11, 14)
    for _ in range(2):
        with pytest.raises(FieldError, match="not a real date"):
            parse_date("31/02/2022")
