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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final

import asyncpg
from litestar import Controller, Request, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from db.engine import connection, transaction
from fleetsvc import holdings, people, sessions
from fleetsvc.business_units import get_business_unit, list_business_units
from fleetsvc.errors import FieldProblem, ValidationFailed
from fleetsvc.pagination import PageRequest, decode_cursor
from fleetsvc.people import Person, PersonUpdate
from fleetsvc.recoveries import queries as recoveries
from fleetsvc.sessions import Flash
from web.formats import count, day, words
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


@dataclass(frozen=True, slots=True)
class PersonRow:
    """One row of the people list, as the page shows it (plain text: the template only
    places it)."""

    id: int
    name: str
    employee_number: str
    upn: str
    unit: str
    kind: str
    active: bool
    state: str
    held: str
    to_recover: bool


def person_rows(
    found: Sequence[Person], held: Mapping[int, int], units: Mapping[int, tuple[str, str]]
) -> list[PersonRow]:
    rows = []
    for p in found:
        n = held.get(p.id, 0)
        unit = units.get(p.business_unit_id) if p.business_unit_id else None
        rows.append(
            PersonRow(
                id=p.id,
                name=p.display_name,
                employee_number=p.employee_number,
                upn=p.upn or "—",
                unit=unit[0] if unit else "—",
                kind=words(p.kind),
                active=p.active,
                state="active" if p.active else f"leaver {day(p.left_on)}".strip(),
                held=count(n),
                to_recover=bool(n) and not p.active,
            )
        )
    return rows


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


async def _unit_codes(conn: asyncpg.Connection) -> dict[int, tuple[str, str]]:
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
        if view == LEAVERS:
            async with connection() as conn:
                leavers = await holdings.leavers_holding(conn, PageRequest(PAGE_SIZE, after))
            return page(request, "people.html", view=LEAVERS, found=leavers)
        terms = await recall(request, SEARCH_KIND, search)
        async with connection() as conn:
            found = await people.list_people(
                conn, PageRequest(PAGE_SIZE, after), q=(terms or {}).get("q")
            )
            held = await holdings.held_counts(conn, [p.id for p in found.items])
            units = await _unit_codes(conn)
        return page(
            request,
            "people.html",
            view=None,
            found=found,
            rows=person_rows(found.items, held, units),
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
            latest = None
            if not person.active:
                cases = await recoveries.list_recoveries(
                    conn, PageRequest(CASES_SHOWN), person_id=person_id
                )
                # The newest case in full (one who rejoined and left again has more).
                if cases.items:
                    latest = await recoveries.get_recovery(conn, cases.items[-1].id)
            unit = (
                await get_business_unit(conn, person.business_unit_id)
                if person.business_unit_id
                else None
            )
        return page(
            request,
            "person.html",
            status=status,
            person=person,
            unit=unit,
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
