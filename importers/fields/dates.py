"""Dates and times in supplier and MDM files: UK text (day first, always), ISO text, Excel
serials and cell dates, within the years the register holds; MDM timestamps as UTC."""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from importers.fields.cells import CellValue, FieldError, cell_text, tidy_text

EXCEL_EPOCH: Final = dt.date(
    1899, 12, 30
)  # serial 1 = 1900-01-01, allowing for Excel's 1900 leap-year bug
MIN_YEAR: Final = 1990
MAX_YEAR: Final = 2100

_ACCEPTED_DATES = "use DD/MM/YYYY (day first), YYYY-MM-DD, 3-Jan-2023 or 3 January 2023"
_MONTHS: Final = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
# A time after the date (Excel writes "03/01/2023 00:00" for a date-and-time cell when it
# saves a CSV) is dropped: the field is a date, as with ISO text and Excel serials.
_DMY = re.compile(
    r"([0-9]{1,2})[/.\-]([0-9]{1,2})[/.\-]([0-9]{2}|[0-9]{4})"
    r"(?: [0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)?"
)
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ][0-9:.]+)?")
_NAMED_MONTH = re.compile(
    r"([0-9]{1,2})(?:st|nd|rd|th)?[\s\-]+([A-Za-z]+)\.?[\s\-,]+([0-9]{2}|[0-9]{4})"
)
_SERIAL = re.compile(r"([0-9]{5})(?:\.[0-9]+)?")


def _full_year(year: str) -> int:
    # Two-digit years follow Excel's own rule: 00-29 are 2000s, 30-99 are 1900s.
    number = int(year)
    if len(year) == 2:
        return 2000 + number if number < 30 else 1900 + number
    return number


def register_date(day: dt.date) -> dt.date:
    """A date the register holds: within the years delivery files are held to.

    Beyond them is a typing slip, and the edges are unsafe: asyncpg stores 9999-12-31 and
    0001-01-01 as PostgreSQL's infinity, and a refresh date a lifecycle after year 9999
    cannot be read back.
    """
    if not MIN_YEAR <= day.year < MAX_YEAR:
        raise FieldError(f"must be a date from {MIN_YEAR} to {MAX_YEAR - 1}")
    return day


def _make_date(year: int, month: int, day: int, text: str) -> dt.date:
    try:
        made = dt.date(year, month, day)
    except ValueError:
        raise FieldError(
            f"{text} is not a real date (dates are read day first); {_ACCEPTED_DATES}"
        ) from None
    return _in_range(made)


def _in_range(day: dt.date) -> dt.date:
    if not MIN_YEAR <= day.year < MAX_YEAR:
        raise FieldError(f"date {day:%d/%m/%Y} is outside {MIN_YEAR}-{MAX_YEAR - 1}")
    return day


def _excel_serial(serial: float) -> dt.date:
    low = (dt.date(MIN_YEAR, 1, 1) - EXCEL_EPOCH).days
    high = (dt.date(MAX_YEAR, 1, 1) - EXCEL_EPOCH).days
    if not low <= serial < high:
        raise FieldError(
            f"{cell_text(serial)} is not a date between {MIN_YEAR} and {MAX_YEAR - 1}; "
            f"{_ACCEPTED_DATES}"
        )
    # A fraction is a time of day; the date is the whole part.
    return EXCEL_EPOCH + dt.timedelta(days=int(serial))


# A delivery file repeats a handful of dates on every row: text already read is looked up.
_DATE_CACHE: dict[str, dt.date] = {}
_DATE_CACHE_SIZE: Final = 4096


def parse_date(value: CellValue) -> dt.date:
    """A date from UK text (day first, always), ISO text, an Excel serial or a cell date."""
    if type(value) is str:
        day = _DATE_CACHE.get(value)
        if day is None:
            day = _parse_date(value)
            if len(_DATE_CACHE) >= _DATE_CACHE_SIZE:
                _DATE_CACHE.clear()
            _DATE_CACHE[value] = day
        return day
    return _parse_date(value)


def _parse_date(value: CellValue) -> dt.date:
    if isinstance(value, dt.datetime):
        return _in_range(value.date())
    if isinstance(value, dt.date):
        return _in_range(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldError(f"not a date; {_ACCEPTED_DATES}")
    if isinstance(value, int | float):
        return _excel_serial(value)
    text = tidy_text(value)
    if match := _DMY.fullmatch(text):
        day, month, year = match.groups()
        return _make_date(_full_year(year), int(month), int(day), text)
    if match := _ISO_DATE.fullmatch(text):
        year, month, day = match.groups()
        return _make_date(int(year), int(month), int(day), text)
    if match := _NAMED_MONTH.fullmatch(text):
        day, month_name, year = match.groups()
        month = _MONTHS.get(month_name.casefold())
        if month is None:
            raise FieldError(f"{month_name} is not a month; {_ACCEPTED_DATES}")
        return _make_date(_full_year(year), month, int(day), text)
    if _SERIAL.fullmatch(text):
        return _excel_serial(float(text))
    raise FieldError(f"date not recognised; {_ACCEPTED_DATES}")


_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:[.,]([0-9]+))?)?\s*(Z|[+-][0-9]{2}:?[0-9]{2})?",
    re.IGNORECASE,
)


def parse_timestamp(value: CellValue) -> dt.datetime:
    """An aware UTC datetime from MDM text ("2026-10-21 20:35:00.0000000", UTC) or ISO 8601.

    Text without an offset is UTC, as the MDM exports it. Fractions beyond microseconds
    (the MDM writes 100 ns ticks) are truncated.
    """
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC)
    if not isinstance(value, str):
        raise FieldError("not a date and time; use YYYY-MM-DD HH:MM:SS (UTC)")
    match = _TIMESTAMP.fullmatch(tidy_text(value))
    if match is None:
        raise FieldError("date and time not recognised; use YYYY-MM-DD HH:MM:SS (UTC)")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    zone = dt.UTC
    if offset and offset.upper() != "Z":
        sign = -1 if offset[0] == "-" else 1
        hours, minutes = int(offset[1:3]), int(offset[-2:])
        zone = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    try:
        stamp = dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, zone
        )
    except ValueError:
        raise FieldError("not a real date and time; use YYYY-MM-DD HH:MM:SS (UTC)") from None
    _in_range(stamp.date())
    return stamp.astimezone(dt.UTC)
