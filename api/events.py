"""The audit trail over HTTP: read-only, for auditors and admins; and its hash chain's check."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter

from api.dependencies import PageDep
from api.guards import AUDIT
from api.schemas import PageOf, page_of
from db.engine import connection
from fleetsvc import audit, audit_chain
from fleetsvc.audit import Event
from fleetsvc.errors import ValidationFailed


class ChainBreak(msgspec.Struct):
    event_id: int | None
    problem: str


class ChainCheck(msgspec.Struct):
    """The hash chain walked from its first event: ``ok``, or the first event that does not
    match (``first_break``)."""

    ok: bool
    events_checked: int
    head_hash: str
    head_event_id: int | None
    seconds: float
    first_break: ChainBreak | None
    anchor_event_id: int | None
    summary: str


Anchor = Annotated[
    str | None,
    QueryParameter(
        description="a head_hash from an earlier check: the chain must still pass through it",
        pattern="^[0-9a-fA-F]{64}$",
    ),
]


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

    @get(
        "/verify",
        operation_id="verifyEvents",
        summary="Walk the audit trail's hash chain; name the first event that does not match",
    )
    async def verify(self, anchor: Anchor = None) -> ChainCheck:
        wanted = None
        if anchor is not None:
            wanted = audit_chain.parse_anchor(anchor)
            if wanted is None:
                raise ValidationFailed.one("anchor", "an anchor is a head_hash: 64 hex digits")
        async with connection() as conn:
            report = await audit_chain.verify_chain(conn, anchor=wanted)
        found = report.first_break
        return ChainCheck(
            ok=report.ok,
            events_checked=report.events_checked,
            head_hash=report.head_hash,
            head_event_id=report.head_event_id,
            seconds=round(report.seconds, 3),
            first_break=None if found is None else ChainBreak(found.event_id, found.problem),
            anchor_event_id=report.anchor_event_id,
            summary=report.summary(),
        )
