"""MDM sync runs as jobs: a whole run from the console's export file (CSV or zipped CSV)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import io
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest

from db.engine import connection
from fleetsvc.auth import Actor
from fleetsvc.mdm import runs, sync
from tests import factories
from tests.api.test_mdm import ASSET_WITH_MDM
from tests.conftest import unique

ACTOR = Actor("tests:mdm-file", "admin")
SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "intune-devices.csv"
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
        row = await conn.fetchrow(ASSET_WITH_MDM, asset_id)
    assert row is not None
    return dict(row)


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

    run = await sync.sync_file(ACTOR, path, run_key)

    assert run.run_id == run_key and run.source == "file" and run.status == "closed"
    assert run.counts == runs.RunCounts(received=5, matched=2, unknown=2, changed=2, rejected=1)
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
    again = await sync.sync_file(ACTOR, path)
    assert again.counts.changed == 0 and again.counts.matched == 2


async def test_sync_from_zipped_export(app: object, tmp_path: Path) -> None:
    a = await factories.asset()
    path = tmp_path / "DevicesWithInventory.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "DevicesWithInventory_0123.csv", write_csv([export_row(serial=a["serial_number"])])
        )
    run = await sync.sync_file(ACTOR, path)
    assert run.status == "closed" and run.counts.matched == 1
    assert run.run_id.startswith("file-")


async def test_the_sample_export_reads_cleanly(app: object) -> None:
    run = await sync.sync_file(ACTOR, SAMPLE, unique("file-"))
    assert run.counts.received == 13 and run.counts.rejected == 0


async def test_unusable_files_fail_the_run_cleanly(app: object, tmp_path: Path) -> None:
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.writestr("a.csv", "x")
        zf.writestr("b.csv", "y")
    with pytest.raises(sync.ExportRejected, match="holds 2 CSV files"):
        await sync.sync_file(ACTOR, two)

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("Order,Item\n1,2\n")
    run_key = unique("file-")
    with pytest.raises(sync.ExportRejected, match="header"):
        await sync.sync_file(ACTOR, wrong, run_key)
    async with connection() as conn:
        run = await runs.get_run(conn, run_key)
    assert run.status == "failed" and run.error is not None and "header" in run.error


# --- the export read ahead of the database -----------------------------------------------


async def test_a_file_of_several_batches_is_applied_whole_while_read_ahead(
    app: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync, "FILE_BATCH", 2)
    assets = [await factories.asset() for _ in range(5)]
    rows = [export_row(serial=a["serial_number"], compliance="Noncompliant") for a in assets]
    path = tmp_path / "export.csv"
    path.write_bytes(write_csv(rows))

    run = await sync.sync_file(ACTOR, path, unique("file-"))

    assert run.status == "closed" and run.batches == 3
    assert run.counts == runs.RunCounts(received=5, matched=5, unknown=0, changed=5, rejected=0)
    for a, row in zip(assets, rows, strict=True):
        assert (await asset_row(a["id"]))["mdm_device_id"] == row["Device ID"]


async def test_a_file_unreadable_part_way_keeps_the_batches_before_and_fails_the_run(
    app: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync, "FILE_BATCH", 2)
    monkeypatch.setattr(sync, "read_export", _failing_after(sync.read_export, 2))
    assets = [await factories.asset() for _ in range(6)]
    path = tmp_path / "export.csv"
    path.write_bytes(write_csv([export_row(serial=a["serial_number"]) for a in assets]))
    run_key = unique("file-")

    with pytest.raises(sync.ExportRejected, match="row 5"):
        await sync.sync_file(ACTOR, path, run_key)

    async with connection() as conn:
        run = await runs.get_run(conn, run_key)
    assert run.status == "failed" and run.batches == 2 and run.counts.received == 4
    held = [(await asset_row(a["id"]))["mdm_device_id"] is not None for a in assets]
    assert held == [True, True, True, True, False, False]


def _failing_after(read: Any, batches: int) -> Any:
    """``read_export`` whose file turns unreadable after ``batches`` batches."""

    def failing(stream: Any, filename: str, size: int) -> Any:
        for n, chunk in enumerate(read(stream, filename, size)):
            if n == batches:
                raise sync.ExportRejected(f"row {n * size + 1}: undecodable")
            yield chunk

    return failing


async def test_a_run_that_stops_early_leaves_no_read_under_way() -> None:
    reading = threading.Event()
    release = threading.Event()
    finished: list[int] = []

    def slow() -> Any:
        yield 1
        reading.set()
        release.wait(5)
        finished.append(2)
        yield 2

    async def consume() -> None:
        async with contextlib.aclosing(sync.read_ahead(slow())) as items:
            async for _ in items:
                await asyncio.to_thread(reading.wait, 5)
                asyncio.get_running_loop().call_later(0.05, release.set)
                raise RuntimeError("the run failed")

    with pytest.raises(RuntimeError, match="the run failed"):
        await consume()
    # The second item was being read when the run stopped: it was let finish first.
    assert finished == [2]
    assert [i async for i in sync.read_ahead(iter([1, 2, 3]))] == [1, 2, 3]
