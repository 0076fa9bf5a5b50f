"""The people pages: find a person by name, employee number or UPN, the leavers who still
hold devices, and a person's page with the leaver checklist (what they hold now and held
before, each device linking to its page) and the button that marks them a leaver.

A search by name or UPN is personal data: it is posted and kept with the session
(``web.search``), never put in the address. Marking a leaver calls the API's own
``fleetsvc.people.update_person`` with the version the page was opened at, so a stale page
is refused ("someone changed this since you opened it") and what follows a leaver (their
recovery case) follows from the page as from the API.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Final

from litestar import Controller, Request, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from db.engine import connection, transaction
from fleetsvc import holdings, people, sessions
from fleetsvc.business_units import list_business_units
from fleetsvc.errors import FieldProblem, ValidationFailed
from fleetsvc.pagination import PageRequest, decode_cursor
from fleetsvc.people import Person, PersonUpdate
from fleetsvc.recoveries import queries as recoveries
from fleetsvc.sessions import Flash
from web.formats import day
from web.forms import actor, form_values
from web.guards import READ_REGISTER, STORES, signed_in
from web.listing import PAGE_SIZE, everything
from web.procurement_forms import version_of
from web.render import field_errors, page
from web.search import recall, remember

SEARCH_KIND: Final = "people"
LEAVERS: Final = "leavers"
CASES_SHOWN: Final = 20

Handle = Annotated[str | None, QueryParameter(max_length=43)]
Cursor = Annotated[str | None, QueryParameter(max_length=64)]
View = Annotated[str | None, QueryParameter(max_length=16)]


def _leaving_date(values: dict[str, str]) -> dt.date:
    raw = values.get("left_on", "").strip()
    if not raw:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(
            [FieldProblem("left_on", "the leaving date must be a date like 2026-12-03")]
        ) from None


async def _unit_codes() -> dict[int, tuple[str, str]]:
    async with connection() as conn:
        units = await everything(lambda p: list_business_units(conn, p))
    return {u.id: (u.code, u.name) for u in units}


class People(Controller):
    path = "/people"
    opt = READ_REGISTER

    @get("/", name="people")
    async def list_people(
        self,
        request: Request[Any, Any, Any],
        search: Handle = None,
        view: View = None,
        cursor: Cursor = None,
    ) -> Template:
        after = decode_cursor(cursor) if cursor else None
        units = await _unit_codes()
        if view == LEAVERS:
            async with connection() as conn:
                leavers = await holdings.leavers_holding(conn, PageRequest(PAGE_SIZE, after))
            return page(request, "people.html", view=LEAVERS, found=leavers, units=units)
        terms = await recall(request, SEARCH_KIND, search)
        async with connection() as conn:
            found = await people.list_people(
                conn, PageRequest(PAGE_SIZE, after), q=(terms or {}).get("q")
            )
            held = await holdings.held_counts(conn, [p.id for p in found.items])
        return page(
            request,
            "people.html",
            view=None,
            found=found,
            held=held,
            units=units,
            search=search if terms else None,
            search_terms=terms,
            search_lost=bool(search) and terms is None,
        )

    @post("/search", name="people-search", status_code=303)
    async def search(self, request: Request[Any, Any, Any]) -> Redirect:
        q = (await form_values(request)).get("q", "")[:200]
        return await remember(request, SEARCH_KIND, {"q": q}, "/people")

    @get("/{person_id:int}", name="person")
    async def show(self, request: Request[Any, Any, Any], person_id: FromPath[int]) -> Template:
        return await self._person_page(request, person_id)

    async def _person_page(
        self,
        request: Request[Any, Any, Any],
        person_id: int,
        *,
        status: int = 200,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> Template:
        async with connection() as conn:
            person = await people.get_person(conn, person_id)
            checklist = await holdings.person_checklist(conn, person_id)
            cases = await recoveries.list_recoveries(
                conn, PageRequest(CASES_SHOWN), person_id=person_id
            )
            # The newest case in full (a rejoiner who left again has more than one).
            latest = (
                await recoveries.get_recovery(conn, cases.items[-1].id) if cases.items else None
            )
        units = await _unit_codes()
        return page(
            request,
            "person.html",
            status=status,
            person=person,
            unit=units.get(person.business_unit_id) if person.business_unit_id else None,
            checklist=checklist,
            recovery=latest,
            shown_now=holdings.HELD_NOW_CAP,
            shown_before=holdings.HISTORY_SHOWN,
            today=dt.date.today(),
            errors=errors or {},
            values=values or {},
        )

    @post("/{person_id:int}/leaver", name="person-leaver", opt=STORES, status_code=303)
    async def mark_leaver(
        self, request: Request[Any, Any, Any], person_id: FromPath[int]
    ) -> Redirect | Template:
        me = signed_in(request)
        values = await form_values(request)
        try:
            left_on = _leaving_date(values)
            async with transaction() as conn:
                person: Person = await people.update_person(
                    conn,
                    actor(request),
                    person_id,
                    PersonUpdate(active=False, left_on=left_on),
                    version_of(values),
                )
                await sessions.set_flash(
                    conn,
                    me.session_id,
                    Flash("ok", f"Marked as a leaver from {day(person.left_on)}."),
                )
        except ValidationFailed as exc:
            return await self._person_page(
                request, person_id, status=422, errors=field_errors(exc), values=values
            )
        return Redirect(f"/people/{person_id}", status_code=303)


HANDLERS: Final = [People]
