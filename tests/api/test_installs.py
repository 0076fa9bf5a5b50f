"""Installs: IVMA tablets and docks fitted in vehicles, and removed again."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import asyncpg
import pytest

from db.engine import connection
from tests import factories
from tests.conftest import ClientFactory, unique


async def kit() -> tuple[dict[str, Any], dict[str, Any]]:
    tablet = await factories.asset(model=await factories.device_model("ivma_tablet"))
    dock = await factories.asset(model=await factories.device_model("vehicle_dock"))
    return tablet, dock


async def fit(eng: Any, vehicle_id: int, tablet_id: int, **kw: Any) -> Any:
    body = {
        "job_reference": unique("BAB-"),
        "tablet_id": tablet_id,
        "installed_on": "2022-01-05",
        **kw,
    }
    return await eng.post(f"/api/v1/vehicles/{vehicle_id}/installs", json=body)


async def test_fit_deploys_the_kit_to_the_vehicle(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    vehicle = await factories.vehicle()
    installer = await factories.contract("installation")
    tablet, dock = await kit()
    r = await fit(
        eng, vehicle["id"], tablet["id"], dock_id=dock["id"], installer_contract_id=installer["id"]
    )
    assert r.status_code == 201, r.text
    install = r.json()
    assert install["vehicle_id"] == vehicle["id"] and install["removed_on"] is None
    for asset in (tablet, dock):
        a = (await eng.get(f"/api/v1/assets/{asset['id']}")).json()
        assert a["status"] == "deployed"
        assert a["holder"] == {
            "kind": "vehicle",
            "person_id": None,
            "display_name": None,
            "employee_number": None,
            "vehicle_id": vehicle["id"],
            "vrm": vehicle["vrm"],
            "fleet_number": vehicle["fleet_number"],
            "install_id": install["id"],
        }
        assert a["in_service_on"] == "2022-01-05"  # the install date
    assert (await eng.get(f"/api/v1/installs/{install['id']}")).json() == install
    listed = (await eng.get(f"/api/v1/vehicles/{vehicle['id']}/installs")).json()["items"]
    assert [i["id"] for i in listed] == [install["id"]]
    events = (await eng.get(f"/api/v1/assets/{tablet['id']}/events")).json()["items"]
    assert [(e["entity"], e["action"]) for e in events] == [
        ("install", "created"),
        ("asset", "transition"),
    ]
    assert events[1]["after"]["vehicle_id"] == vehicle["id"]


async def test_a_tablet_is_in_one_vehicle_and_a_vehicle_has_one_tablet(
    client_for: ClientFactory,
) -> None:
    eng = await client_for("engineer")
    v1, v2 = await factories.vehicle(), await factories.vehicle()
    (t1, _), (t2, _) = await kit(), await kit()
    first = (await fit(eng, v1["id"], t1["id"])).json()

    r = await fit(eng, v2["id"], t1["id"])
    assert r.status_code == 409, r.text
    assert r.json()["existing_id"] == first["id"] and v1["vrm"] in r.json()["detail"]

    r = await fit(eng, v1["id"], t2["id"])
    assert r.status_code == 409 and r.json()["existing_id"] == first["id"]
    assert r.json()["errors"][0]["field"] == "vehicle_id"
    assert (await eng.get(f"/api/v1/assets/{t2['id']}")).json()["status"] == "in_stock"

    r = await fit(eng, v2["id"], t2["id"], job_reference=first["job_reference"])
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "job_reference"


async def test_two_fits_racing_for_one_vehicle(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    vehicle = await factories.vehicle()
    (t1, _), (t2, _) = await kit(), await kit()
    results = await asyncio.gather(
        fit(eng, vehicle["id"], t1["id"]), fit(eng, vehicle["id"], t2["id"])
    )
    assert sorted(r.status_code for r in results) == [201, 409]


async def test_database_keeps_one_active_tablet_per_vehicle(client_for: ClientFactory) -> None:
    """The partial unique indexes are the last word, whatever a caller does."""
    vehicle = await factories.vehicle()
    (t1, _), (t2, _) = await kit(), await kit()
    await factories.insert(
        "install",
        job_reference=unique(),
        vehicle_id=vehicle["id"],
        tablet_id=t1["id"],
        installed_on=dt.date(2022, 1, 1),
    )
    with pytest.raises(asyncpg.UniqueViolationError):
        await factories.insert(
            "install",
            job_reference=unique(),
            vehicle_id=vehicle["id"],
            tablet_id=t2["id"],
            installed_on=dt.date(2022, 1, 1),
        )


async def test_fit_refuses_wrong_kit(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    vehicle = await factories.vehicle()
    phone = await factories.asset()
    tablet, dock = await kit()
    r = await fit(eng, vehicle["id"], phone["id"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "tablet_id"
    r = await fit(eng, vehicle["id"], tablet["id"], dock_id=phone["id"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "dock_id"
    r = await fit(eng, vehicle["id"], dock["id"])
    assert r.status_code == 422
    r = await fit(eng, vehicle["id"], tablet["id"], installed_on="2999-01-01")
    assert r.status_code == 422
    r = await fit(eng, vehicle["id"], tablet["id"], job_reference="  ")
    assert r.status_code == 422
    broken = await factories.asset(
        model=await factories.device_model("ivma_tablet"), status="in_repair"
    )
    r = await fit(eng, vehicle["id"], broken["id"])
    assert r.status_code == 409 and "in_stock" in r.json()["allowed"]
    r = await fit(eng, 999999999, tablet["id"])
    assert r.status_code == 404
    scrapped = await factories.vehicle(status="decommissioned")
    r = await fit(eng, scrapped["id"], tablet["id"])
    assert r.status_code == 422
    # The installer contract is an installation contract (finance charges kit to it).
    airtime = await factories.contract("airtime")
    r = await fit(eng, vehicle["id"], tablet["id"], installer_contract_id=airtime["id"])
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {
            "field": "installer_contract_id",
            "message": f"contract {airtime['id']} is an airtime contract, not an installation one",
        }
    ]
    assert (await eng.get(f"/api/v1/assets/{tablet['id']}")).json()["status"] == "in_stock"


async def test_removal_returns_kit_to_stock_or_repair(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    vehicle = await factories.vehicle()
    tablet, dock = await kit()
    install = (await fit(eng, vehicle["id"], tablet["id"], dock_id=dock["id"])).json()
    url = f"/api/v1/installs/{install['id']}/removal"
    assert (await eng.post(url, json={"reason": "stolen"})).status_code == 422
    assert (
        await eng.post(url, json={"reason": "recovered", "removed_on": "2021-01-01"})
    ).status_code == 422
    r = await eng.post(url, json={"reason": "recovered", "removed_on": "2024-02-01"})
    assert r.status_code == 200, r.text
    assert r.json()["removed_on"] == "2024-02-01" and r.json()["removal_reason"] == "recovered"
    for asset in (tablet, dock):
        a = (await eng.get(f"/api/v1/assets/{asset['id']}")).json()
        assert a["status"] == "in_stock" and a["holder"] is None
    assert (await eng.post(url, json={"reason": "recovered"})).status_code == 409

    # The tablet can go in another vehicle now; a faulty removal sends it to repair.
    other = await factories.vehicle()
    again = (await fit(eng, other["id"], tablet["id"])).json()
    r = await eng.post(f"/api/v1/installs/{again['id']}/removal", json={"reason": "faulty"})
    assert r.status_code == 200
    assert (await eng.get(f"/api/v1/assets/{tablet['id']}")).json()["status"] == "in_repair"
    history = (await eng.get(f"/api/v1/vehicles/{vehicle['id']}/installs")).json()["items"]
    assert [h["removal_reason"] for h in history] == ["recovered"]
    assert (await eng.get("/api/v1/installs/999999999")).status_code == 404
    assert (await eng.get("/api/v1/vehicles/999999999/installs")).status_code == 404


async def test_moving_a_fitted_tablet_ends_its_install(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    vehicle = await factories.vehicle()
    tablet, dock = await kit()
    install = (await fit(eng, vehicle["id"], tablet["id"], dock_id=dock["id"])).json()
    r = await eng.post(
        f"/api/v1/assets/{tablet['id']}/transitions", json={"to": "stolen", "reason": "break-in"}
    )
    assert r.status_code == 200 and r.json()["holder"] is None
    ended = (await eng.get(f"/api/v1/installs/{install['id']}")).json()
    assert ended["removed_on"] == dt.date.today().isoformat()
    assert ended["removal_reason"] == "recovered"
    assert (await eng.get(f"/api/v1/assets/{dock['id']}")).json()["status"] == "in_stock"
    async with connection() as conn:
        active = await conn.fetchval(
            "SELECT count(*) FROM install WHERE vehicle_id = $1 AND removed_on IS NULL",
            vehicle["id"],
        )
    assert active == 0
