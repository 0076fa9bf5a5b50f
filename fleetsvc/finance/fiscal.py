"""UK financial years (1 April to 31 March), written ``2025/26``.

A financial year is named here by the calendar year it starts in: 2025 is
2025/26, which runs from 1 April 2025 to 31 March 2026.
"""

from __future__ import annotations

import datetime as dt
import re

FY_FORMAT_HINT = "a financial year like 2025/26"
_FY = re.compile(r"([0-9]{4})/([0-9]{2})")
# The OpenAPI document's pattern for a financial year: "2025/26", the second part the next
# year's last two digits, from 1900/01 to 9899/00 (a forecast of up to 20 years must end
# by 9998/99).
FY_PATTERN = (
    "^(?:19|[2-8][0-9]|9[0-8])(?:"
    + "|".join(f"{n:02d}/{(n + 1) % 100:02d}" for n in range(100))
    + ")$"
)


def fy_of(day: dt.date) -> int:
    """The financial year a date falls in (2025-03-31 is 2024, 2025-04-01 is 2025)."""
    return day.year if day.month >= 4 else day.year - 1


def fy_start(year: int) -> dt.date:
    return dt.date(year, 4, 1)


def fy_end(year: int) -> dt.date:
    """The last day of the financial year (31 March)."""
    return dt.date(year + 1, 3, 31)


def fy_label(year: int) -> str:
    """``2025`` → ``"2025/26"`` (``1999`` → ``"1999/00"``)."""
    return f"{year:04d}/{(year + 1) % 100:02d}"


def fy_slug(year: int) -> str:
    """The year as it goes in a file name: ``2025-26``."""
    return fy_label(year).replace("/", "-")


def parse_fy(text: str) -> int:
    """``"2025/26"`` → ``2025``; raises ValueError for anything else (``2025-26``,
    ``2025/27``)."""
    m = _FY.fullmatch(text.strip())
    if m is None:
        raise ValueError(FY_FORMAT_HINT)
    start, end = int(m.group(1)), int(m.group(2))
    if (start + 1) % 100 != end or start < 1900:
        raise ValueError(FY_FORMAT_HINT + " (the second part is the next year)")
    return start


def current_fy(today: dt.date | None = None) -> int:
    return fy_of(today or dt.datetime.now(dt.UTC).date())


def months_of(year: int) -> list[dt.date]:
    """The first day of each month of the financial year, April to March."""
    return [dt.date(year + (m < 4), m, 1) for m in (*range(4, 13), *range(1, 4))]


def _last_day(first: dt.date) -> dt.date:
    nxt = dt.date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def months_in_force(starts_on: dt.date, ends_on: dt.date | None, year: int) -> int:
    """How many months of the financial year a contract is charged for.

    The rule is whole months: a month counts in full when the contract is in
    force on any day of it (it starts on or before the month's last day and has
    not ended before the month's first day); otherwise it does not count.
    """
    return sum(
        1
        for first in months_of(year)
        if starts_on <= _last_day(first) and (ends_on is None or ends_on >= first)
    )
