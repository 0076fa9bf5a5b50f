"""The MDM pages over ASGI: the sync runs with their counts, one run with its rejected records
and its reconciliation, each finding linking to its device or person by id."""

from __future__ import annotations

import re

from tests import factories
from tests.api.test_mdm import graph_record, push
from tests.conftest import ClientFactory, unique
from tests.web.conftest import SignedInFactory


def _section(html: str, anchor: str) -> str:
    """The part of a page from a section's heading to the next heading."""
    return html.split(f'<h2 id="{anchor}">', 1)[1].split("<h2", 1)[0]


async def test_a_run_shows_its_counts_and_every_finding_links_by_id(
    client_for: ClientFactory, signed_in_as: SignedInFactory
) -> None:
    mdm = await client_for("mdm")
    unit = await factories.business_unit()
    holder = await factories.person(business_unit_id=unit["id"])
    other = await factories.person(business_unit_id=unit["id"])
    disposed = await factories.asset(status="disposed", disposal_certificate_ref="WEEE-1")
    mismatched = await factories.asset(status="deployed", person_id=other["id"])
    noncompliant = await factories.asset(status="deployed", person_id=holder["id"])
    twin = unique("TWIN")
    records = [
        graph_record(serial=disposed["serial_number"], upn=None),
        graph_record(serial=mismatched["serial_number"], upn="not.them@force.example"),
        graph_record(
            serial=noncompliant["serial_number"], upn=holder["upn"], compliance="noncompliant"
        ),
        graph_record(serial=twin),
        graph_record(serial=twin),
        {"id": "", "serialNumber": "x"},  # rejected: no id
    ]
    run_key = unique("run-")
    r = await push(mdm, run_key, 1, records, final=True)
    assert r.status_code == 200, r.text
    run_id = r.json()["id"]

    me = await signed_in_as("stores")
    listed = await me.client.get("/mdm")
    assert listed.status_code == 200
    assert f'href="/mdm/runs/{run_id}"' in listed.text

    page = await me.client.get(f"/mdm/runs/{run_id}")
    assert page.status_code == 200, page.text
    assert run_key in page.text
    counts = dict(re.findall(r"<dt>([^<]+)</dt><dd>([\d,]+)</dd>", page.text.split("<h2")[0]))
    assert counts["Received"] == "6" and counts["Matched to devices"] == "3"
    assert counts["Not in the register"] == "2" and counts["Rejected records"] == "1"
    assert "Rejected records" in page.text and "id" in _section(page.text, "rejected")

    checking_in = _section(page.text, "still-checking-in")
    assert f'href="/devices/{disposed["id"]}"' in checking_in and "disposed" in checking_in
    mismatches = _section(page.text, "user-mismatches")
    assert f'href="/devices/{mismatched["id"]}"' in mismatches
    assert f'href="/people/{other["id"]}"' in mismatches and "not.them@force.example" in mismatches
    assert twin in _section(page.text, "duplicates")
    assert records[3]["id"] in _section(page.text, "not-in-register")
    noncompliant_unit = _section(page.text, "noncompliant")
    assert f'href="/mdm?business_unit={unit["code"]}"' in noncompliant_unit
    # Nothing personal in any link: people by id only.
    assert not re.search(r'href="[^"]*@', page.text)


async def test_the_business_unit_narrows_the_holder_sections(
    client_for: ClientFactory, signed_in_as: SignedInFactory
) -> None:
    mdm = await client_for("mdm")
    unit = await factories.business_unit()
    holder = await factories.person(business_unit_id=unit["id"])
    phone = await factories.asset(status="deployed", person_id=holder["id"])
    await push(
        mdm,
        unique("run-"),
        1,
        [graph_record(serial=phone["serial_number"], upn="someone.else@force.example")],
        final=True,
    )
    me = await signed_in_as("finance")
    r = await me.client.get("/mdm", params={"business_unit": unit["code"].lower()})
    assert r.status_code == 200
    assert f"narrowed to <strong>{unit['code']}" in r.text
    mismatches = _section(r.text, "user-mismatches")
    assert mismatches.count('href="/devices/') == 1
    assert f'href="/devices/{phone["id"]}"' in mismatches


async def test_a_long_section_shows_its_first_findings_and_opens_on_its_own(
    client_for: ClientFactory, signed_in_as: SignedInFactory
) -> None:
    mdm = await client_for("mdm")
    unit = await factories.business_unit()
    holder = await factories.person(business_unit_id=unit["id"])
    phones = [await factories.asset(status="deployed", person_id=holder["id"]) for _ in range(30)]
    records = [graph_record(serial=p["serial_number"], upn="x.other@force.example") for p in phones]
    await push(mdm, unique("run-"), 1, records, final=True)
    me = await signed_in_as("engineer")
    r = await me.client.get("/mdm", params={"business_unit": unit["code"]})
    mismatches = _section(r.text, "user-mismatches")
    assert mismatches.count('href="/devices/') == 25
    assert "The first 25 of 30." in mismatches
    more = re.search(r'href="(/mdm\?[^"]*section=user-mismatches[^"]*)"', mismatches)
    assert more, mismatches[-800:]
    alone = await me.client.get(more.group(1).replace("&amp;", "&"))
    assert alone.status_code == 200
    assert _section(alone.text, "user-mismatches").count('href="/devices/') == 30
    assert '<h2 id="not-seen">' not in alone.text and "Back to every section" in alone.text


async def test_bad_filters_are_shown_beside_their_fields(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("auditor")
    r = await me.client.get("/mdm", params={"stale_days": "0", "business_unit": "NO-SUCH"})
    assert r.status_code == 422
    assert 'id="field-stale_days-error"' in r.text
    r = await me.client.get("/mdm", params={"business_unit": "NO-SUCH-UNIT"})
    assert r.status_code == 422 and "No business unit has the code NO-SUCH-UNIT." in r.text
    assert (await me.client.get("/mdm/runs/999999999")).status_code == 404
