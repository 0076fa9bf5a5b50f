"""babcock-install imports: completed jobs fit tablets and docks into vehicles; aborted and
deferred jobs are recorded and change nothing; a job is never applied twice."""

from __future__ import annotations

import datetime as dt
from typing import Any

from db.engine import connection
from tests import factories
from tests.api.test_imports import csv_bytes, issues, upload
from tests.conftest import ClientFactory, unique

HEADER = [
    "Job Reference",
    "Completion Date",
    "Fleet Number",
    "VRM",
    "Vehicle",
    "Workshop",
    "Tablet Serial",
    "Dock Serial",
    "Engineer ID",
    "Job Status",
    "Comments",
]


async def kit() -> dict[str, Any]:
    tablet_model = await factories.device_model("ivma_tablet", manufacturer="Panasonic")
    dock_model = await factories.device_model("vehicle_dock", manufacturer="Havis")
    return {
        "tablets": [await factories.asset(tablet_model) for _ in range(3)],
        "docks": [await factories.asset(dock_model) for _ in range(2)],
    }


def job(**kw: str) -> dict[str, str]:
    row = {
        "Job Reference": unique("BAB-"),
        "Completion Date": "01/12/2021",
        "Fleet Number": unique("F")[:8],
        "VRM": "T" + unique()[:6],
        "Vehicle": "BMW 330e Touring IRV",
        "Workshop": "Babcock Park Royal",
        "Engineer ID": "E1000",
        "Job Status": "Completed",
    }
    row.update(kw)
    return row


async def test_completed_aborted_and_deferred_jobs(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    k = await kit()
    known = await factories.vehicle()
    t1, t2, t3 = (t["serial_number"] for t in k["tablets"])
    rows = [
        job(
            **{
                "Fleet Number": known["fleet_number"],
                "VRM": known["vrm"],
                "Tablet Serial": t1,
                "Dock Serial": k["docks"][0]["serial_number"],
            }
        ),
        job(**{"Tablet Serial": t2}),  # an unknown vehicle: created
        job(**{"Tablet Serial": t3, "Job Status": "Aborted", "Comments": "vehicle not present"}),
        job(**{"Job Status": "Deferred", "Completion Date": "", "Tablet Serial": ""}),
    ]
    content = csv_bytes(rows, HEADER)
    preview = (await upload(stores, content, "babcock-install")).json()
    assert preview["status"] == "previewed", preview
    assert preview["counts"]["installs"] == 2 and preview["counts"]["vehicles_created"] == 1
    assert preview["counts"]["new"] == 4

    r = await stores.post(f"/api/v1/imports/{preview['id']}/commit")
    body = r.json()
    assert body["status"] == "committed", body
    async with connection() as conn:
        installs = await conn.fetch(
            "SELECT i.*, v.fleet_number, v.vrm, v.description FROM install i"
            " JOIN vehicle v ON v.id = i.vehicle_id WHERE i.delivery_import_id = $1"
            " ORDER BY i.id",
            body["id"],
        )
        jobs = await conn.fetch(
            "SELECT * FROM install_job WHERE delivery_import_id = $1 ORDER BY id", body["id"]
        )
        tablets = {
            r["serial_number"]: r
            for r in await conn.fetch(
                "SELECT * FROM asset WHERE id = ANY($1::int[])",
                [t["id"] for t in k["tablets"]] + [d["id"] for d in k["docks"]],
            )
        }
        events = await conn.fetch(
            "SELECT entity, action FROM event WHERE (entity = 'install' AND entity_id ="
            " ANY($1::int[])) OR (entity = 'asset' AND entity_id = $2 AND action = 'transition')",
            [i["id"] for i in installs],
            k["tablets"][0]["id"],
        )
    assert [i["job_reference"] for i in installs] == [
        rows[0]["Job Reference"],
        rows[1]["Job Reference"],
    ]
    assert installs[0]["vehicle_id"] == known["id"]
    assert installs[0]["dock_id"] == k["docks"][0]["id"]
    assert installs[1]["fleet_number"] == rows[1]["Fleet Number"]
    assert (
        installs[1]["vrm"] == rows[1]["VRM"]
        and installs[1]["description"] == "BMW 330e Touring IRV"
    )
    assert installs[0]["installed_on"] == dt.date(2021, 12, 1)
    assert [j["status"] for j in jobs] == ["completed", "completed", "aborted", "deferred"]
    assert jobs[0]["install_id"] == installs[0]["id"] and jobs[2]["install_id"] is None
    assert tablets[t1]["status"] == "deployed" and tablets[t2]["status"] == "deployed"
    assert tablets[t1]["in_service_on"] == dt.date(2021, 12, 1)
    assert tablets[t1]["refresh_due_on"] == dt.date(2024, 12, 1)
    assert tablets[t3]["status"] == "in_stock"  # the aborted job changed nothing
    assert tablets[k["docks"][0]["serial_number"]]["status"] == "deployed"
    assert sorted((e["entity"], e["action"]) for e in events) == [
        ("asset", "transition"),
        ("install", "created"),
        ("install", "created"),
    ]

    # The same report again: every job is already applied; nothing changes.
    again = (await upload(stores, content, "babcock-install", mode="commit")).json()
    assert again["status"] == "committed"
    assert again["counts"]["unchanged"] == 4 and again["counts"]["installs"] == 0
    warnings = await issues(stores, again["id"], "warning")
    assert any(
        w["message"] == f"job {rows[0]['Job Reference']} was already applied by import "
        f"{body['id']}; it was not applied again"
        for w in warnings
    )


async def test_tablet_installed_elsewhere_or_unknown_is_rejected(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    k = await kit()
    first = job(**{"Tablet Serial": k["tablets"][0]["serial_number"]})
    committed = (
        await upload(stores, csv_bytes([first], HEADER), "babcock-install", mode="commit")
    ).json()
    assert committed["counts"]["installs"] == 1, committed
    elsewhere = job(**{"Tablet Serial": k["tablets"][0]["serial_number"]})
    unknown = job(**{"Tablet Serial": unique("NOPE")})
    missing = job(**{"Tablet Serial": ""})
    body = (
        await upload(
            stores,
            csv_bytes([elsewhere, unknown, missing], HEADER),
            "babcock-install",
            mode="commit",
        )
    ).json()
    assert body["status"] == "rejected" and body["counts"]["rejected"] == 3
    errors = {e["row"]: e for e in await issues(stores, body["id"], "rejected")}
    assert errors[2]["message"] == (
        f"tablet {k['tablets'][0]['serial_number']} is already installed in vehicle "
        f"{first['Fleet Number']} ({first['VRM']}) by job {first['Job Reference']} since 2021-12-01"
    )
    assert errors[3]["message"].startswith(
        f"no tablet with serial number {unknown['Tablet Serial']}"
    )
    assert errors[4]["column"] == "Tablet Serial"


async def test_a_deferred_job_that_comes_back_completed_is_applied_once(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    k = await kit()
    tablet = k["tablets"][0]
    deferred = job(
        **{
            "Job Status": "Deferred",
            "Completion Date": "",
            "Tablet Serial": tablet["serial_number"],
        }
    )
    body = (
        await upload(stores, csv_bytes([deferred], HEADER), "babcock-install", mode="commit")
    ).json()
    assert body["status"] == "committed" and body["counts"]["new"] == 1, body
    first_import = body["id"]

    # Deferred again in the next weekly report: already recorded, nothing changes.
    body = (
        await upload(stores, csv_bytes([deferred], HEADER), "babcock-install", mode="commit")
    ).json()
    assert body["counts"]["unchanged"] == 1 and body["counts"]["installs"] == 0, body
    (warning,) = [w for w in await issues(stores, body["id"], "warning") if w["row"] == 2]
    assert warning["message"] == (
        f"job {deferred['Job Reference']} was already recorded as deferred by import "
        f"{first_import}; it was not recorded again"
    )

    # The same job reference, now completed: the tablet goes into the vehicle.
    completed = {**deferred, "Job Status": "Completed", "Completion Date": "08/12/2021"}
    content = csv_bytes([completed], HEADER)
    body = (await upload(stores, content, "babcock-install", mode="commit")).json()
    assert body["status"] == "committed", body
    assert body["counts"]["new"] == 1 and body["counts"]["installs"] == 1, body
    async with connection() as conn:
        jobs = await conn.fetch(
            "SELECT * FROM install_job WHERE job_reference = $1", deferred["Job Reference"]
        )
        asset = await conn.fetchrow("SELECT * FROM asset WHERE id = $1", tablet["id"])
        events = await conn.fetch(
            "SELECT action, before, after FROM event WHERE entity = 'install_job'"
            " AND entity_id = $1 ORDER BY id",
            jobs[0]["id"],
        )
    assert len(jobs) == 1 and jobs[0]["status"] == "completed"
    assert jobs[0]["completed_on"] == dt.date(2021, 12, 8) and jobs[0]["install_id"] is not None
    assert asset is not None
    assert asset["status"] == "deployed" and asset["in_service_on"] == dt.date(2021, 12, 8)
    assert [e["action"] for e in events] == ["created", "updated"]
    assert '"deferred"' in events[1]["before"] and '"completed"' in events[1]["after"]

    # And a completed job is never applied twice.
    body = (await upload(stores, content, "babcock-install", mode="commit")).json()
    assert body["counts"]["unchanged"] == 1 and body["counts"]["installs"] == 0, body
