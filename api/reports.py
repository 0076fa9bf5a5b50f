"""The summary report: counts, leavers' devices, vehicles, MDM headroom, contracts ending."""

from __future__ import annotations

from litestar import Controller, get

from api.guards import READ_REGISTER
from db.engine import connection
from fleetsvc import reports
from fleetsvc.reports import Summary


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]

    @get("/summary", operation_id="summaryReport", opt=READ_REGISTER)
    async def summary(self) -> Summary:
        """The fleet at a glance (every role may read it)."""
        async with connection() as conn:
            return await reports.summary(conn)


CONTROLLERS: list[type[Controller]] = [ReportController]
