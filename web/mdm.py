"""The MDM pages: the register against the MDM now (security findings first, then what needs
tidying, and the licence's capacity), the sync runs with their counts, and one run with its
rejected records and its own reconciliation (``fleetsvc.mdm.reconcile``).

Each finding links to its device or person page by id; the people's UPNs are shown on the
page, never put in its address.
"""

from __future__ import annotations

from typing import Annotated, Any, Final
from urllib.parse import urlencode

from litestar import Controller, Request, get
from litestar.params import FromPath, QueryParameter
from litestar.response import Template

from db.engine import connection
from fleetsvc.business_units import list_business_units
from fleetsvc.errors import NotFound, ValidationFailed
from fleetsvc.mdm import reconcile, runs
from fleetsvc.pagination import PageRequest, decode_cursor
from fleetsvc.settings import get_settings
from web.guards import READ_REGISTER
from web.listing import page_links
from web.render import field_errors, page

SHOWN: Final = 25  # items a section lists (its count is always the whole)
EXPANDED: Final = 500  # items the page of one section lists
SECTIONS: Final = (
    "still-checking-in",
    "not-in-register",
    "not-seen",
    "user-mismatches",
    "duplicates",
    "noncompliant",
)
RUNS_SHOWN: Final = 20
ISSUES_SHOWN: Final = 200

Text = Annotated[str | None, QueryParameter(max_length=64)]


def _stale_days(value: str | None) -> int:
    default = get_settings().mdm_stale_days
    if not value:
        return default
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 3650:
        raise ValidationFailed.one("stale_days", "a whole number of days from 1 to 3650")
    return int(text)


async def _unit_named(code: str | None) -> tuple[str | None, str | None]:
    """The unit's code as stored and its name; a code no unit has is refused beside the field."""
    if not code or not code.strip():
        return None, None
    async with connection() as conn:
        found = await list_business_units(conn, PageRequest(limit=1), code=code)
    if not found.items:
        raise ValidationFailed.one("business_unit", f"no business unit has the code {code.strip()}")
    unit = found.items[0]
    return unit.code, unit.name


class Mdm(Controller):
    path = "/mdm"
    opt = READ_REGISTER

    @get("/", name="mdm")
    async def now(
        self,
        request: Request[Any, Any, Any],
        stale_days: Text = None,
        business_unit: Text = None,
        section: Text = None,
        cursor: Text = None,
    ) -> Template:
        settings = get_settings()
        filters = {"stale_days": stale_days, "business_unit": business_unit}
        only = section if section in SECTIONS else None
        kept = {k: v for k, v in filters.items() if v}
        urls: dict[str, object] = {
            name: f"/mdm?{urlencode({**kept, 'section': name})}#{name}" for name in SECTIONS
        }
        urls["limit"] = EXPANDED
        async with connection() as conn:
            found = await runs.list_runs(
                conn, PageRequest(RUNS_SHOWN, decode_cursor(cursor) if cursor else None)
            )
        common: dict[str, Any] = {
            "runs": found,
            "links": page_links("/mdm", filters, found, cursor),
            "filters": filters,
            "default_stale_days": settings.mdm_stale_days,
            "only": only,
            "urls": urls,
        }
        try:
            days = _stale_days(stale_days)
            code, unit_name = await _unit_named(business_unit)
        except ValidationFailed as exc:
            return page(request, "mdm.html", status=422, errors=field_errors(exc), **common)
        async with connection() as conn:
            report = await reconcile.reconcile(
                conn,
                capacity=settings.mdm_capacity,
                stale_days=days,
                limit=EXPANDED if only else SHOWN,
                business_unit=code,
            )
        return page(request, "mdm.html", report=report, unit_name=unit_name, **common)

    @get("/runs/{run_id:int}", name="mdm-run")
    async def run(self, request: Request[Any, Any, Any], run_id: FromPath[int]) -> Template:
        settings = get_settings()
        async with connection() as conn:
            found = await runs.get_run(conn, run_id, issues_limit=ISSUES_SHOWN)
            if found.id != run_id:  # another run's run_id is these digits: not this page's
                raise NotFound("MDM run", run_id)
            report = await reconcile.reconcile(
                conn,
                capacity=settings.mdm_capacity,
                stale_days=settings.mdm_stale_days,
                limit=SHOWN,
                run_id=found.id,
            )
        return page(
            request,
            "mdm_run.html",
            run=found,
            report=report,
            shown=SHOWN,
            issues_shown=ISSUES_SHOWN,
        )


HANDLERS: Final = [Mdm]
