"""The summary report: counts, leavers' devices, vehicles, MDM headroom, contracts ending."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter

from api.guards import READ_REGISTER
from db.engine import connection
from fleetsvc import reports
from fleetsvc.reports import Summary


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]

    @get("/summary", operation_id="summaryReport", opt=READ_REGISTER)
    async def summary(
        self,
        contracts_within_days: Annotated[
            int, QueryParameter(ge=1, le=3650, description="horizon of contracts_ending")
        ] = reports.CONTRACT_HORIZON_DAYS,
    ) -> Summary:
        """The fleet at a glance (every role may read it)."""
        async with connection() as conn:
            return await reports.summary(conn, contracts_within_days)


CONTROLLERS: list[type[Controller]] = [ReportController]
