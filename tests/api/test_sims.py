"""SIMs: register, change, fit in handsets, move between them with history."""

from __future__ import annotations

from db.engine import connection
from fleetsvc.sims import ALL_FITTINGS
from tests import factories
from tests.conftest import ClientFactory


async def test_register_and_change_a_sim(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    airtime = await factories.contract("airtime")
    iccid = factories.new_iccid()
    msisdn = factories.new_msisdn()
    national = f"0{msisdn[3:7]} {msisdn[7:]}"  # "07700 900123", as people write it
    r = await eng.post(
        "/api/v1/sims",
        json={
            "iccid": f"{iccid[:6]} {iccid[6:]}",
            "msisdn": national,
            "contract_id": airtime["id"],
        },
    )
    assert r.status_code == 201, r.text
    sim = r.json()
    assert sim["iccid"] == iccid and sim["msisdn"] == msisdn
    assert sim["status"] == "active" and sim["asset_id"] is None and r.headers["etag"] == '"1"'

    r = await eng.patch(
        f"/api/v1/sims/{sim['id']}", json={"status": "suspended"}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    r = await eng.patch(
        f"/api/v1/sims/{sim['id']}", json={"status": "active"}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 412
    got = await eng.get(f"/api/v1/sims?msisdn={sim['msisdn']}")
    assert [s["id"] for s in got.json()["items"]] == [sim["id"]]


async def test_sim_validation_and_duplicates(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    handset_contract = await factories.contract("handset_supply")
    existing = await factories.sim()
    bad_iccid = existing["iccid"][:-1] + str((int(existing["iccid"][-1]) + 1) % 10)
    cases = [
        ({"iccid": bad_iccid}, 422, "iccid"),
        ({"iccid": "1234"}, 422, "iccid"),
        ({"iccid": factories.new_iccid(), "msisdn": "12"}, 422, "msisdn"),
        ({"iccid": factories.new_iccid(), "status": "lost"}, 422, "status"),
        (
            {"iccid": factories.new_iccid(), "contract_id": handset_contract["id"]},
            422,
            "contract_id",
        ),
        ({"iccid": factories.new_iccid(), "contract_id": 2_000_000_000}, 422, "contract_id"),
        ({"iccid": existing["iccid"]}, 409, "iccid"),
        ({"iccid": factories.new_iccid(), "msisdn": existing["msisdn"]}, 409, "msisdn"),
    ]
    for body, status, field in cases:
        r = await eng.post("/api/v1/sims", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["errors"][0]["field"] == field, body
        if status == 409:
            assert r.json()["existing_id"] == existing["id"]
    for url in ("/api/v1/sims?status=lost", "/api/v1/sims?iccid=12", "/api/v1/sims?contract_id=x"):
        r = await eng.get(url)
        assert 400 <= r.status_code < 500, url
    assert (await eng.get("/api/v1/sims/999999999")).status_code == 404
    assert (await eng.get("/api/v1/sims/999999999/history")).status_code == 404
    r = await eng.post("/api/v1/sims/999999999/fitting", json={"asset_id": 1})
    assert r.status_code == 404


async def test_sim_moves_between_handsets_with_history(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    sim = await factories.sim()
    first, second = await factories.asset(), await factories.asset()
    url = f"/api/v1/sims/{sim['id']}"

    r = await eng.post(f"{url}/fitting", json={"asset_id": first["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["asset_id"] == first["id"]
    a = (await eng.get(f"/api/v1/assets/{first['id']}")).json()
    assert a["sim"]["iccid"] == sim["iccid"]

    r = await eng.post(f"{url}/fitting", json={"asset_id": second["id"]})
    assert r.status_code == 200 and r.json()["asset_id"] == second["id"]
    assert (await eng.get(f"/api/v1/assets/{first['id']}")).json()["sim"] is None

    history = (await eng.get(f"{url}/history")).json()["items"]
    assert [h["asset_id"] for h in history] == [first["id"], second["id"]]
    assert history[0]["removed_at"] is not None and history[1]["removed_at"] is None
    assert history[0]["serial_number"] == first["serial_number"]

    r = await eng.post(f"{url}/removal")
    assert r.status_code == 200 and r.json()["asset_id"] is None
    assert (await eng.post(f"{url}/removal")).status_code == 409
    history = (await eng.get(f"{url}/history")).json()["items"]
    assert all(h["removed_at"] is not None for h in history)
    # Each handset's timeline still holds the SIM's moves in and out of it, now that both
    # fittings are removed.
    for handset in (first, second):
        timeline = (await eng.get(f"/api/v1/assets/{handset['id']}/events")).json()["items"]
        assert [e["entity_id"] for e in timeline if e["entity"] == "sim"], timeline

    # Both handsets' histories show the SIM coming and going.
    events = (await eng.get(f"/api/v1/assets/{first['id']}/events")).json()["items"]
    assert [(e["entity"], e["action"]) for e in events] == [
        ("sim", "fitted"),
        ("sim", "fitted"),  # moved out of this handset into the second
    ]
    assert events[1]["before"] == {"asset_id": first["id"]}


async def test_a_handset_holds_one_sim_unless_replaced(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    handset = await factories.asset()
    held = await factories.sim()
    newcomer = await factories.sim()
    await eng.post(f"/api/v1/sims/{held['id']}/fitting", json={"asset_id": handset["id"]})

    r = await eng.post(f"/api/v1/sims/{newcomer['id']}/fitting", json={"asset_id": handset["id"]})
    assert r.status_code == 409 and r.json()["existing_id"] == held["id"]
    r = await eng.post(
        f"/api/v1/sims/{newcomer['id']}/fitting",
        json={"asset_id": handset["id"], "replace": True},
    )
    assert r.status_code == 200, r.text
    assert (await eng.get(f"/api/v1/sims/{held['id']}")).json()["asset_id"] is None
    assert (await eng.get(f"/api/v1/assets/{handset['id']}")).json()["sim"]["id"] == newcomer["id"]
    async with connection() as conn:
        fittings = await conn.fetch(
            f"SELECT sim_id, removed_at FROM ({ALL_FITTINGS}) f WHERE f.asset_id = $1",
            handset["id"],
        )
    # The newcomer's fitting is open; the SIM it replaced was in the handset and is not now.
    assert [f["sim_id"] for f in fittings if f["removed_at"] is None] == [newcomer["id"]]
    assert [f["sim_id"] for f in fittings if f["removed_at"] is not None] == [held["id"]]


async def test_fitting_refuses_what_cannot_take_a_sim(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    sim = await factories.sim()
    dock = await factories.asset(model=await factories.device_model("vehicle_dock"))
    r = await eng.post(f"/api/v1/sims/{sim['id']}/fitting", json={"asset_id": dock["id"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "asset_id"
    r = await eng.post(f"/api/v1/sims/{sim['id']}/fitting", json={"asset_id": 2_000_000_000})
    assert r.status_code == 422
    cancelled = await factories.sim(status="cancelled")
    phone = await factories.asset()
    r = await eng.post(f"/api/v1/sims/{cancelled['id']}/fitting", json={"asset_id": phone["id"]})
    assert r.status_code == 422


async def test_a_sim_goes_only_on_an_airtime_contract_and_into_a_handset(
    client_for: ClientFactory,
) -> None:
    eng = await client_for("engineer")
    supply = await factories.contract("handset_supply")
    r = await eng.post(
        "/api/v1/sims",
        json={"iccid": factories.new_iccid(), "contract_id": supply["id"]},
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [
        {
            "field": "contract_id",
            "message": f"contract {supply['id']} is a handset supply contract, not an airtime one",
        }
    ]
    sim = (await eng.post("/api/v1/sims", json={"iccid": factories.new_iccid()})).json()
    dock = await factories.asset(model=await factories.device_model("vehicle_dock"))
    r = await eng.post(f"/api/v1/sims/{sim['id']}/fitting", json={"asset_id": dock["id"]})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["message"] == (
        f"asset {dock['id']} is a vehicle dock, which takes no SIM"
    )
