"""What every forecast asks and answers: the parameters (first financial year,
horizon, grouping, output format) read from a request, and exact money.

Money is exact throughout: SQL ``numeric`` in, ``Decimal`` in Python, decimal
strings with two places in JSON; every total is the sum of the rows shown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import msgspec

from fleetsvc.errors import FieldProblem, ValidationFailed
from fleetsvc.finance.fiscal import (
    FY_FORMAT_HINT,
    current_fy,
    fy_end,
    fy_label,
    fy_start,
    parse_fy,
)
from fleetsvc.spreadsheets import XLSX_MEDIA_TYPE
from fleetsvc.vocabulary import ForecastGroup, OutputFormat

MAX_YEARS = 20
DEFAULT_YEARS = 5
# The last financial year a forecast can reach: 9998/99 ends on 31 March 9999, and the
# day after a horizon must still be a date.
LAST_YEAR = 9998
CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# The aggregate's cell: a financial year (its starting year), or one of these.
OVERDUE, NO_LIFECYCLE, NO_DATES, NO_COST = -1, -2, -3, -4
UNPRICED_REASONS = {
    NO_LIFECYCLE: "no refresh date: the model has no lifecycle and the asset no override",
    NO_DATES: "no refresh date: the asset has no in-service or delivery date",
    NO_COST: "no replacement cost on the model or the asset",
}


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# --- parameters -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ForecastParams:
    first_year: int
    years: int
    group_by: str = "model"

    @property
    def year_numbers(self) -> list[int]:
        return list(range(self.first_year, self.first_year + self.years))

    @property
    def labels(self) -> list[str]:
        return [fy_label(y) for y in self.year_numbers]

    @property
    def horizon_start(self) -> dt.date:
        return fy_start(self.first_year)

    @property
    def horizon_last_day(self) -> dt.date:
        return fy_end(self.first_year + self.years - 1)


def forecast_params(
    from_year: str | None,
    years: str | int | None,
    group_by: str | None = None,
    *,
    today: dt.date | None = None,
) -> ForecastParams:
    """Check the user's parameters; every problem is reported at once."""
    problems: list[FieldProblem] = []
    first = current_fy(today)
    if from_year is not None:
        try:
            first = parse_fy(from_year)
        except ValueError:
            problems.append(FieldProblem("from", FY_FORMAT_HINT))
    n = DEFAULT_YEARS
    if years is not None:
        text = str(years).strip()
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_YEARS:
            problems.append(FieldProblem("years", f"a whole number of years from 1 to {MAX_YEARS}"))
        else:
            n = int(text)
    if not problems and first + n - 1 > LAST_YEAR:
        problems.append(
            FieldProblem(
                "from",
                f"{FY_FORMAT_HINT}; the forecast's last year must be {fy_label(LAST_YEAR)}"
                " or earlier",
            )
        )
    dim = "model" if group_by is None else group_by.strip()
    if not ForecastGroup.has(dim):
        problems.append(FieldProblem("group_by", "one of " + ForecastGroup.listed()))
    if problems:
        raise ValidationFailed(problems)
    return ForecastParams(first, n, dim)


def output_format(fmt: str | None, accept: str | None = None) -> str:
    """``format=`` wins, exactly as the document's enum lists it; else ``Accept: text/csv``
    or the XLSX type; else JSON."""
    if fmt is not None:
        if not OutputFormat.has(fmt):
            raise ValidationFailed.one("format", "one of " + OutputFormat.listed())
        return fmt
    accept = (accept or "").lower()
    if "text/csv" in accept:
        return "csv"
    if XLSX_MEDIA_TYPE in accept:
        return "xlsx"
    return "json"


# --- results ----------------------------------------------------------------------------------


class Amount(msgspec.Struct):
    devices: int
    cost: Decimal


class YearAmount(msgspec.Struct):
    year: str
    devices: int
    cost: Decimal
