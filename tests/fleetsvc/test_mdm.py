"""MDM sync services: checking records, and a whole run from the console's export file."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from db.engine import connection
from fleetsvc import mdm
from fleetsvc.auth import Actor
from tests import factories
from tests.conftest import unique

ACTOR = Actor("tests:mdm-file", "admin")
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "intune-devices.csv"
HEADER = [
    "Device ID",
    "Device name",
    "Enrollment date",
    "Last check-in",
    "Azure AD Device ID",
    "OS version",
    "Serial number",
    "Manufacturer",
    "Model",
    "IMEI",
    "MEID",
    "Security patch level",
    "Wi-Fi MAC",
    "Subscriber carrier",
    "Category",
    "Primary user UPN",
    "Primary user email address",
    "Primary user display name",
    "Compliance",
    "Managed by",
    "Ownership",
    "Device state",
    "OS",
    "Phone number",
    "ICCID",
    "Total storage",
    "Free storage",
]


def export_row(
    *, serial: str = "", imei: str = "", compliance: str = "Compliant", **kw: str
) -> dict[str, str]:
    row = {h: "" for h in HEADER}
    device_id = unique().lower()
    row.update(
        {
            "Device ID": device_id,
            "Device name": f"MPS-{serial}",
            "Enrollment date": "2022-12-01 09:00:00.0000000",
            "Last check-in": "2026-10-21 20:35:00.0000000",
            "OS version": "13",
            "Serial number": serial,
            "Manufacturer": "samsung",
            "Model": "SM-A325F",
            "IMEI": imei,
            "Primary user UPN": "officer@force.example",
            "Compliance": compliance,
            "Ownership": "Corporate",
            "OS": "Android",
            "ICCID": "8944100000000000018",
        }
    )
    row.update(kw)
    return row


def write_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADER, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


async def asset_row(asset_id: int) -> dict[str, Any]:
    async with connection() as conn:
        row = await conn.fetchrow("SELECT * FROM asset WHERE id = $1", asset_id)
    assert row is not None
    return dict(row)


# --- checking records ----------------------------------------------------------------------


def test_check_device_normalises_what_it_matches_on() -> None:
    d = mdm.ManagedDevice(
        id=" abc ",
        serial_number=" r58r0000001 ",
        imei="35 209900 176148 1",
        compliance_state="InGracePeriod",
        last_sync_date_time="2026-10-21T20:35:00.1234567Z",
        enrolled_date_time="0001-01-01T00:00:00Z",  # the MDM's "never"
        phone_number="07700 900123",
        user_principal_name="Officer@Force.example",
    )
    r = mdm.check_device(0, d)
    assert isinstance(r, mdm.DeviceRecord)
    assert r.mdm_device_id == "abc" and r.serial_number == "R58R0000001"
    assert r.imei == "352099001761481" and r.compliance == "inGracePeriod"
    assert r.last_sync_at == dt.datetime(2026, 10, 21, 20, 35, 0, 123456, tzinfo=dt.UTC)
    assert r.enrolled_at is None and r.phone_number == "+447700900123"
    assert r.user_upn == "Officer@Force.example"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"serial_number": None}, None, "a record needs a serial number or an IMEI"),
        ({"serial_number": "R58 R00"}, "serialNumber", "contains a space"),
        ({"imei": "3.52099E+14"}, "imei", "scientific notation"),
        ({"compliance_state": "green"}, "complianceState", "must be one of: compliant"),
        ({"last_sync_date_time": "21/13/2026"}, "lastSyncDateTime", "not recognised"),
        ({"id": "x" * 65}, "id", "the limit is 64"),
        ({"device_name": "bad\x00name"}, "deviceName", "control"),
    ],
)
def test_check_device_rejects_with_a_reason(
    fields: dict[str, Any], field: str | None, message: str
) -> None:
    base: dict[str, Any] = {"id": "dev-1", "serial_number": "R58R1"}
    result = mdm.check_device(3, mdm.ManagedDevice(**{**base, **fields}))
    assert isinstance(result, list) and result
    assert result[0].field == field and result[0].index == 3
    assert message in result[0].message


def test_every_copy_of_a_repeated_id_is_rejected() -> None:
    devices = [
        mdm.ManagedDevice(id="a", serial_number="S1"),
        mdm.ManagedDevice(id="b", serial_number="S2"),
        mdm.ManagedDevice(id="a", serial_number="S3"),
    ]
    records, rejections = mdm.split_checked([mdm.check_device(i, d) for i, d in enumerate(devices)])
    assert [r.mdm_device_id for r in records] == ["b"]
    assert [(r.index, r.field) for r in rejections] == [(0, "id"), (2, "id")]


def test_a_repeated_id_is_rejected_even_when_a_copy_is_bad() -> None:
    # Once the good copy was applied: a guess at which copy is right.
    devices = [
        mdm.ManagedDevice(id="a", serial_number="S1", last_sync_date_time="2026-13-01T00:00:00Z"),
        mdm.ManagedDevice(id="a", serial_number="S1", last_sync_date_time="2026-11-01T00:00:00Z"),
    ]
    records, rejections = mdm.split_checked([mdm.check_device(i, d) for i, d in enumerate(devices)])
    assert records == []
    assert [(r.index, r.field) for r in rejections] == [(0, "lastSyncDateTime"), (1, "id")]
    assert "appears 2 times" in rejections[1].message


# --- a run from the export file ----------------------------------------------------------


async def test_sync_from_csv_export(app: object, tmp_path: Path) -> None:
    by_serial = await factories.asset()
    by_imei = await factories.asset()
    rows = [
        export_row(serial=by_serial["serial_number"].lower(), compliance="Noncompliant"),
        export_row(imei=by_imei["imei"]),
        export_row(serial=unique("STRAY")),
        export_row(serial=unique("S"), IMEI="3.52099E+14"),
        # A bad value in a column the sync does not use does not stop the device.
        export_row(serial=unique("S"), ICCID="12345"),
    ]
    path = tmp_path / "export.csv"
    path.write_bytes(write_csv(rows))
    run_key = unique("file-")

    run = await mdm.sync_file(ACTOR, path, run_key)

    assert run.run_id == run_key and run.source == "file" and run.status == "closed"
    assert run.counts == mdm.RunCounts(received=5, matched=2, unknown=2, changed=2, rejected=1)
    [issue] = run.issues
    assert issue.index == 5 and issue.field == "IMEI"  # row 5 as the spreadsheet shows it
    a = await asset_row(by_serial["id"])
    assert a["mdm_device_id"] == rows[0]["Device ID"] and a["mdm_compliance"] == "noncompliant"
    async with connection() as conn:
        last_seen = await conn.fetchval(
            "SELECT last_sync_at FROM mdm_device WHERE mdm_device_id = $1", rows[0]["Device ID"]
        )
    assert last_seen == dt.datetime(2026, 10, 21, 20, 35, tzinfo=dt.UTC)
    assert (await asset_row(by_imei["id"]))["mdm_device_id"] == rows[1]["Device ID"]

    # The same export again: nothing changes.
    again = await mdm.sync_file(ACTOR, path)
    assert again.counts.changed == 0 and again.counts.matched == 2


async def test_sync_from_zipped_export(app: object, tmp_path: Path) -> None:
    a = await factories.asset()
    path = tmp_path / "DevicesWithInventory.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "DevicesWithInventory_0123.csv", write_csv([export_row(serial=a["serial_number"])])
        )
    run = await mdm.sync_file(ACTOR, path)
    assert run.status == "closed" and run.counts.matched == 1
    assert run.run_id.startswith("file-")


async def test_the_sample_export_reads_cleanly(app: object) -> None:
    run = await mdm.sync_file(ACTOR, SAMPLE, unique("file-"))
    assert run.counts.received == 13 and run.counts.rejected == 0


async def test_unusable_files_fail_the_run_cleanly(app: object, tmp_path: Path) -> None:
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.writestr("a.csv", "x")
        zf.writestr("b.csv", "y")
    with pytest.raises(mdm.ExportRejected, match="holds 2 CSV files"):
        await mdm.sync_file(ACTOR, two)

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("Order,Item\n1,2\n")
    run_key = unique("file-")
    with pytest.raises(mdm.ExportRejected, match="header"):
        await mdm.sync_file(ACTOR, wrong, run_key)
    async with connection() as conn:
        run = await mdm.get_run(conn, run_key)
    assert run.status == "failed" and run.error is not None and "header" in run.error


async def test_cli_sync_file_prints_a_summary(
    database_url: str, app: object, tmp_path: Path
) -> None:
    a = await factories.asset()
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("export.csv", write_csv([export_row(serial=a["serial_number"])]))
    run_key = unique("cli-")
    fleetsvc = Path(sys.executable).parent / "fleetsvc"
    env = {**os.environ, "DATABASE_URL": database_url, "FLEETSVC_LOG_LEVEL": "warning"}
    done = subprocess.run(
        [str(fleetsvc), "mdm", "sync", "--file", str(path), "--run-id", run_key],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"MDM run {run_key} (file): closed" in done.stdout
    assert "matched to assets" in done.stdout
    assert (await asset_row(a["id"]))["mdm_device_id"] is not None

    env.pop("FLEETSVC_MDM_GRAPH_URL", None)
    done = subprocess.run(
        [str(fleetsvc), "mdm", "pull"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "FLEETSVC_MDM_GRAPH_URL" in done.stderr
