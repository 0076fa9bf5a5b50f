"""How the pages write money, counts and dates: as people here read them (``£3,000,000.00``,
``39,737``, ``14 Nov 2022``), exactly (money stays a ``Decimal`` to the last digit)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from jinja2 import Environment


def gbp(value: Decimal | int | None) -> str:
    """``Decimal("3000000")`` → ``£3,000,000.00``; a negative amount as ``−£12.50``."""
    if value is None:
        return ""
    amount = Decimal(value)
    text = f"£{abs(amount):,.2f}"
    return f"−{text}" if amount < 0 else text


def gbp_short(value: Decimal | int) -> str:
    """A chart's label: ``£3.0m``, ``£892k``, ``£450``."""
    amount = Decimal(value)
    sign = "−" if amount < 0 else ""
    amount = abs(amount)
    if amount >= 1_000_000:
        return f"{sign}£{amount / 1_000_000:,.1f}m"
    if amount >= 10_000:
        return f"{sign}£{amount / 1_000:,.0f}k"
    return f"{sign}£{amount:,.0f}"


def count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def day(value: dt.date | None) -> str:
    """``2022-11-14`` → ``14 Nov 2022``."""
    if value is None:
        return ""
    return f"{value.day} {value:%b %Y}"


def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 row``, ``2 rows``, ``1,000 rows``."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def words(value: Any) -> str:
    """A vocabulary value as words: ``business_unit`` → ``business unit``."""
    return str(value).replace("_", " ")


def install(env: Environment) -> None:
    env.filters.update(
        gbp=gbp, gbp_short=gbp_short, count=count, day=day, plural=plural, words=words
    )
