"""The audit trail over HTTP: read-only, for auditors and admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter

from api.dependencies import PageDep
from api.guards import AUDIT
from api.schemas import PageOf, page_of
from db.engine import connection
from fleetsvc import audit
from fleetsvc.audit import Event


class EventController(Controller):
    path = "/events"
    tags = ["audit"]
    opt = AUDIT

    @get("/", operation_id="listEvents", summary="The audit trail, oldest first")
    async def list_events(
        self,
        page: PageDep,
        entity: FromQuery[str | None] = None,
        entity_id: Annotated[int | None, QueryParameter(ge=1)] = None,
        actor_name: Annotated[str | None, QueryParameter(name="actor")] = None,
        action: FromQuery[str | None] = None,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
    ) -> PageOf[Event]:
        flt = audit.EventFilter(entity, entity_id, actor_name, action, since, until)
        async with connection() as conn:
            return page_of(await audit.list_events(conn, flt, page))
