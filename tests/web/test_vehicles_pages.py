"""The vehicles pages over ASGI: found by VRM (with or without its space) or fleet number;
a vehicle's page with the kit fitted now, each device linking to its page, and its history
of installs and removals and of its own record."""

from __future__ import annotations

from tests import factories
from tests.api.test_installs import fit, kit
from tests.conftest import ClientFactory, unique
from tests.web.conftest import SignedInFactory


async def test_a_vehicle_is_found_by_vrm_or_fleet_number(signed_in_as: SignedInFactory) -> None:
    tail = unique()[:3]
    vehicle = await factories.vehicle(vrm=f"BX21{tail}", fleet_number=unique("FL")[:10])
    me = await signed_in_as("mdm")
    for term in (f"bx21 {tail.lower()}", vehicle["fleet_number"][2:8].lower()):
        page = await me.client.get("/vehicles", params={"q": term})
        assert page.status_code == 200, page.text
        assert f'href="/vehicles/{vehicle["id"]}"' in page.text, term
    none = await me.client.get("/vehicles", params={"q": "ZZ99 NOPE"})
    assert none.status_code == 200 and "No vehicle matches “ZZ99 NOPE”" in none.text
    listed = await me.client.get("/vehicles")
    assert listed.status_code == 200 and "VRM or fleet number" in listed.text


async def test_the_vehicle_page_shows_its_kit_and_history(
    client_for: ClientFactory, signed_in_as: SignedInFactory
) -> None:
    eng = await client_for("engineer")
    unit = await factories.business_unit()
    vehicle = await factories.vehicle()
    old_tablet, _ = await kit()
    first = await fit(eng, vehicle["id"], old_tablet["id"], installed_on="2021-06-01")
    assert first.status_code == 201, first.text
    removed = await eng.post(
        f"/api/v1/installs/{first.json()['id']}/removal",
        json={"reason": "faulty", "removed_on": "2022-02-01"},
    )
    assert removed.status_code == 200, removed.text
    tablet, dock = await kit()
    now = await fit(eng, vehicle["id"], tablet["id"], dock_id=dock["id"])
    assert now.status_code == 201, now.text
    changed = await eng.patch(
        f"/api/v1/vehicles/{vehicle['id']}",
        json={"status": "off_road", "business_unit_id": unit["id"]},
        headers={"If-Match": f'"{vehicle["version"]}"'},
    )
    assert changed.status_code == 200, changed.text

    me = await signed_in_as("finance")
    listed = await me.client.get("/vehicles", params={"q": vehicle["vrm"]})
    assert f'href="/devices/{tablet["id"]}"' in listed.text

    page = await me.client.get(f"/vehicles/{vehicle['id']}")
    assert page.status_code == 200, page.text
    fitted = page.text.split('id="fitted"', 1)[1].split('id="installs"', 1)[0]
    assert f'href="/devices/{tablet["id"]}"' in fitted and f'href="/devices/{dock["id"]}"' in fitted
    assert now.json()["job_reference"] in fitted
    assert f'href="/devices/{old_tablet["id"]}"' not in fitted
    installs = page.text.split('id="installs"', 1)[1].split('id="history"', 1)[0]
    assert f'href="/devices/{old_tablet["id"]}"' in installs
    assert "1 Feb 2022" in installs and "faulty" in installs and "fitted now" in installs
    history = page.text.split('id="history"', 1)[1]
    assert "status: active → off_road" in history and "engineer" in history
    assert f"business unit: — → {unit['code']}" in history
    assert unit["code"] in page.text
    missing = await me.client.get("/vehicles/999999999")
    assert missing.status_code == 404
