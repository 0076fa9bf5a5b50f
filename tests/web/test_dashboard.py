"""The dashboard over ASGI: the summary report with every figure linking to the list behind
it (the devices list filtered the same way, the people, contracts, import and MDM pages),
for the whole force or one business unit."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections import Counter

from tests import factories
from tests.conftest import unique
from tests.web.conftest import SignedInFactory


def _unescape_hrefs(text: str) -> set[str]:
    return {html.unescape(h) for h in re.findall(r'href="([^"]+)"', text)}


async def test_each_figure_links_to_the_list_behind_it(signed_in_as: SignedInFactory) -> None:
    unit = await factories.business_unit()
    holder = await factories.person(business_unit_id=unit["id"])
    leaver = await factories.person(
        business_unit_id=unit["id"], active=False, left_on=dt.date(2026, 1, 5)
    )
    for who in (holder, holder, leaver):
        await factories.asset(status="deployed", person_id=who["id"])
    tablet = await factories.device_model("tablet")
    await factories.asset(tablet, status="deployed", person_id=holder["id"])
    ending = await factories.contract(
        "airtime", ends_on=dt.date.today() + dt.timedelta(days=40), reference=unique("AIR-")
    )

    me = await signed_in_as("finance")
    page = await me.client.get("/", params={"business_unit": unit["code"].lower()})
    assert page.status_code == 200, page.text
    hrefs = _unescape_hrefs(page.text)
    code = unit["code"]
    assert f"/devices?category=smartphone&status=deployed&business_unit={code}" in hrefs
    assert f"/devices?category=tablet&status=deployed&business_unit={code}" in hrefs
    assert f"/devices?business_unit={code}" in hrefs
    # The unit's counts: 3 handsets and 1 tablet deployed, 4 in all.
    matrix = page.text.split('id="by-status"', 1)[1].split("</table>", 1)[0]
    cell = re.search(rf'smartphone&amp;status=deployed&amp;business_unit={code}">(\d+)<', matrix)
    assert cell and cell[1] == "3"
    total = matrix.split("<tfoot>", 1)[1]
    assert re.search(rf'"/devices\?business_unit={code}">4</a></td>\s*</tr></tfoot>', total)
    # The other figures: leavers' devices, MDM headroom, contracts, imports and runs.
    assert {"/people?view=leavers", "/mdm#capacity", "/procurement?ending=soon"} <= hrefs
    assert f"/procurement/contracts/{ending['id']}" in hrefs
    assert "/imports" in hrefs and "/mdm" in hrefs
    assert "MDM licence headroom" in page.text and "Held by leavers" in page.text
    # The whole force: no business unit in the links.
    force = await me.client.get("/")
    assert "/devices?category=smartphone&status=deployed" in _unescape_hrefs(force.text)
    assert f"/?business_unit={code}" in _unescape_hrefs(force.text)


async def test_an_unknown_business_unit_is_said_beside_the_field(
    signed_in_as: SignedInFactory,
) -> None:
    me = await signed_in_as("mdm")
    page = await me.client.get("/", params={"business_unit": "NO-SUCH-UNIT"})
    assert page.status_code == 422
    assert "No business unit has the code NO-SUCH-UNIT." in page.text
    assert "Devices by category and status" in page.text


def _markup_problems(html_text: str) -> list[str]:
    """The foundation's rules: no inline script or style, each id once, a label per field."""
    problems = []
    if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html_text):
        problems.append("inline script")
    if "<style" in html_text or " style=" in html_text or re.search(r"\son[a-z]+=", html_text):
        problems.append("inline style or handler")
    ids = Counter(re.findall(r'\bid="([^"]+)"', html_text))
    problems += [f"id {i} twice" for i, n in ids.items() if n > 1]
    for attrs in re.findall(r"<(?:input|select|textarea)\b([^>]*)>", html_text):
        if re.search(r'type="hidden"', attrs):
            continue
        found = re.search(r'\bid="([^"]+)"', attrs)
        if not found or f'<label for="{found.group(1)}"' not in html_text:
            problems.append(f"field without a label: {attrs}")
    return problems


async def test_the_dashboard_people_and_vehicles_pages_keep_the_markup_rules(
    signed_in_as: SignedInFactory,
) -> None:
    unit = await factories.business_unit()
    person = await factories.person(business_unit_id=unit["id"])
    await factories.asset(status="deployed", person_id=person["id"])
    vehicle = await factories.vehicle()
    me = await signed_in_as("admin")
    searched = await me.post("/people/search", {"q": person["employee_number"]})
    paths = [
        "/",
        f"/?business_unit={unit['code']}",
        "/people",
        "/people?view=leavers",
        searched.headers["location"],
        f"/people/{person['id']}",
        "/vehicles",
        "/vehicles?q=nothing-like-it",
        f"/vehicles/{vehicle['id']}",
    ]
    for path in paths:
        r = await me.client.get(path)
        assert r.status_code == 200, (path, r.status_code)
        assert not _markup_problems(r.text), (path, _markup_problems(r.text))
