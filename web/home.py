"""The dashboard: where every signed-in user lands. The summary report (devices by
category × status, for the whole force or one business unit, and by business unit), the
devices leavers still hold, the MDM licence's headroom, contracts ending soon, and the
latest imports and MDM runs (``fleetsvc.reports``). Each figure links to the list behind
it: the devices list filtered the same way, the people, contracts, import or MDM page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from litestar import Request, get
from litestar.params import QueryParameter
from litestar.response import Template

from db.engine import connection
from fleetsvc import reports, users
from fleetsvc.business_units import list_business_units
from fleetsvc.imports.queries import recent_imports
from fleetsvc.mdm import runs
from fleetsvc.pagination import PageRequest
from fleetsvc.reports import CountRow
from fleetsvc.vocabulary import AssetStatus, Category
from web.guards import EVERYONE
from web.listing import everything
from web.render import can, page

LATEST: Final = 5  # imports and MDM runs the dashboard lists
CONTRACTS_SHOWN: Final = 6

Text = Annotated[str | None, QueryParameter(max_length=64)]


def devices_url(**filters: str | None) -> str:
    """The devices list filtered as a figure counts (``/devices?category=…&status=…``)."""
    kept = {k: v for k, v in filters.items() if v}
    return f"/devices?{urlencode(kept)}" if kept else "/devices"


def _ordered(values: Iterable[str], vocabulary: Sequence[str]) -> list[str]:
    """The values present, in the vocabulary's order (any unknown one after, sorted)."""
    present = set(values)
    known = [v for v in vocabulary if v in present]
    return known + sorted(present - set(vocabulary))


@dataclass(slots=True)
class Matrix:
    """Devices by row × column, with the totals of each and of all."""

    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], int] = field(default_factory=dict)
    row_totals: dict[str, int] = field(default_factory=dict)
    column_totals: dict[str, int] = field(default_factory=dict)
    total: int = 0


def _matrix(
    pairs: Iterable[tuple[str, str, int]], rows: Sequence[str], columns: Sequence[str]
) -> Matrix:
    cells: dict[tuple[str, str], int] = defaultdict(int)
    for row, column, n in pairs:
        cells[(row, column)] += n
    row_names = _ordered((r for r, _ in cells), rows)
    column_names = _ordered((c for _, c in cells), columns)
    m = Matrix(row_names, column_names, dict(cells))
    for (row, column), n in cells.items():
        m.row_totals[row] = m.row_totals.get(row, 0) + n
        m.column_totals[column] = m.column_totals.get(column, 0) + n
        m.total += n
    return m


def by_category_and_status(counts: Sequence[CountRow], business_unit: str | None) -> Matrix:
    """Category × status, for one business unit's holders (its code) or the whole force."""
    chosen = [c for c in counts if business_unit is None or c.business_unit == business_unit]
    return _matrix(
        ((c.category, c.status, c.assets) for c in chosen), tuple(Category), tuple(AssetStatus)
    )


def by_business_unit(counts: Sequence[CountRow]) -> Matrix:
    """Business unit × category; devices nobody holds last, as "unassigned"."""
    units = sorted({c.business_unit for c in counts} - {reports.UNASSIGNED})
    return _matrix(
        ((c.business_unit, c.category, c.assets) for c in counts),
        [*units, reports.UNASSIGNED],
        tuple(Category),
    )


@get("/", name="home", opt=EVERYONE)
async def home(request: Request[Any, Any, Any], business_unit: Text = None) -> Template:
    async with connection() as conn:
        report = await reports.summary(conn)
        units = await everything(lambda p: list_business_units(conn, p))
        latest_runs = await runs.list_runs(conn, PageRequest(LATEST))
        imports = (await recent_imports(conn, PageRequest(LATEST))).items
        who = await users.emails_of(conn, (i.created_by for i in imports))
    names = {u.code: u.name for u in units}
    code = (business_unit or "").strip().upper() or None
    unknown_unit = code is not None and code not in names
    if unknown_unit:
        code = None
    return page(
        request,
        "dashboard.html",
        status=422 if unknown_unit else 200,
        errors={"business_unit": f"no business unit has the code {business_unit}"}
        if unknown_unit
        else {},
        report=report,
        unit=code,
        unit_names=names,
        matrix=by_category_and_status(report.counts, code),
        units=by_business_unit(report.counts),
        unassigned=reports.UNASSIGNED,
        contracts=report.contracts_ending[:CONTRACTS_SHOWN],
        runs=latest_runs.items,
        imports=imports if can(request, "imports") else [],
        who=who,
        devices_url=devices_url,
    )
