"""The delivery import job itself: batches, progress, failures, and the `fleetsvc import`
command."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from db.engine import connection
from fleetsvc import deliveries
from fleetsvc.auth import Actor
from fleetsvc.errors import ValidationFailed
from tests.api.test_imports import VF_HEADER, csv_bytes, handset, one, order

ACTOR = Actor("tests", "stores")
# The app's lifespan opens the connection pool the service uses.
pytestmark = pytest.mark.usefixtures("app")


async def test_many_batches_with_progress(tmp_path: Path) -> None:
    o = await order(quantity=20_000)
    rows = deliveries.BATCH_ROWS * 2 + 7
    path = tmp_path / "big.csv"
    path.write_bytes(csv_bytes([handset(o) for _ in range(rows)]))
    seen: list[tuple[int, float | None]] = []
    item = await deliveries.run_import(
        ACTOR,
        path=path,
        file_name="big.csv",
        profile_name="vodafone-despatch",
        mode="commit",
        progress=lambda n, share: seen.append((n, share)),
    )
    assert [n for n, _ in seen] == [5_000, 10_000, rows]
    shares = [share or 0.0 for _, share in seen]
    assert all(0 < share <= 1 for share in shares), seen
    assert shares == sorted(shares) and shares[-1] == 1.0 and shares[0] < 1.0, seen
    assert item["status"] == "committed" and item["counts"]["new"] == rows
    async with connection() as conn:
        created = await conn.fetchval(
            "SELECT count(*) FROM asset WHERE delivery_import_id = $1", item["id"]
        )
    assert created == rows


async def test_a_file_that_breaks_halfway_leaves_a_failed_import_and_nothing_else(
    tmp_path: Path,
) -> None:
    o = await order(quantity=20_000)
    # A UTF-8 file (its first row has an accent) of more than the 1 MiB sniffed.
    first = handset(o, **{"Product Description": "Galaxy A32 Noir Intense (édition pro)"})
    good = csv_bytes([first] + [handset(o) for _ in range(8_000)])
    assert len(good) > 1 << 20
    path = tmp_path / "broken.csv"
    path.write_bytes(good + b"14/11/2022,\xff\xfe broken\r\n")
    with pytest.raises(ValidationFailed) as caught:
        await deliveries.run_import(
            ACTOR, path=path, file_name="broken.csv", profile_name="vodafone-despatch"
        )
    assert "not valid UTF-8" in caught.value.message
    imp = await one(
        "SELECT id, status FROM delivery_import WHERE file_name = 'broken.csv'"
        " ORDER BY id DESC LIMIT 1"
    )
    async with connection() as conn:
        staged = await conn.fetchval(
            "SELECT count(*) FROM import_staged_row WHERE import_id = $1", imp["id"]
        )
        assets = await conn.fetchval(
            "SELECT count(*) FROM asset WHERE purchase_order_id = $1", o["po"]["id"]
        )
    assert imp["status"] == "failed" and staged == 0 and assets == 0


async def _cli(
    database_url: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    exe = str(Path(sys.executable).parent / "fleetsvc")
    proc = await asyncio.create_subprocess_exec(
        exe,
        "import",
        *args,
        cwd=cwd,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "FLEETSVC_LOG_LEVEL": "warning",
            **(env or {}),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_preview_then_commit(database_url: str, tmp_path: Path) -> None:
    o = await order()
    path = tmp_path / "despatch.csv"
    rows = [handset(o) for _ in range(3)]
    path.write_bytes(csv_bytes(rows))
    code, out, err = await _cli(
        database_url, str(path), "--profile", "vodafone-despatch", cwd=tmp_path
    )
    assert code == 0, out + err
    assert "previewed" in out and "new" in out
    code, out, err = await _cli(
        database_url, str(path), "--profile", "vodafone-despatch", "--commit", cwd=tmp_path
    )
    assert code == 0, out + err
    assert "committed" in out
    async with connection() as conn:
        imeis = await conn.fetch(
            "SELECT imei FROM asset WHERE purchase_order_id = $1", o["po"]["id"]
        )
    assert sorted(r["imei"] for r in imeis) == sorted(r["IMEI"] for r in rows)


async def test_cli_shows_a_progress_bar_on_a_terminal(database_url: str, tmp_path: Path) -> None:
    o = await order(quantity=20_000)
    path = tmp_path / "despatch.csv"
    path.write_bytes(csv_bytes([handset(o) for _ in range(deliveries.BATCH_ROWS + 10)]))
    # FORCE_COLOR makes the console behave as a terminal, where the bar is drawn.
    code, out, err = await _cli(
        database_url,
        str(path),
        "--profile",
        "vodafone-despatch",
        cwd=tmp_path,
        env={"FORCE_COLOR": "1", "COLUMNS": "120"},
    )
    assert code == 0, out + err
    # Intermediate states are drawn ten times a second at most; the last one always is.
    assert "reading despatch.csv" in err and "━" in err
    assert "5,010 rows read from despatch.csv; previewing" in err and "100%" in err
    assert "previewed" in out


async def test_cli_rejected_rows_exit_1_and_are_written(database_url: str, tmp_path: Path) -> None:
    o = await order()
    path = tmp_path / "despatch.csv"
    bad = handset(o, IMEI="3.52099E+14")
    path.write_bytes(csv_bytes([handset(o), bad]))
    out_csv = tmp_path / "fix-me.csv"
    code, out, err = await _cli(
        database_url,
        str(path),
        "--profile",
        "vodafone-despatch",
        "--commit",
        "--rejected-out",
        str(out_csv),
        cwd=tmp_path,
    )
    assert code == 1, out + err
    assert "rejected" in out and "nothing was committed" in out
    text = out_csv.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == ",".join([*VF_HEADER, "error"])
    assert "3.52099E+14" in text and "scientific notation" in text
    async with connection() as conn:
        assets = await conn.fetchval(
            "SELECT count(*) FROM asset WHERE purchase_order_id = $1", o["po"]["id"]
        )
    assert assets == 0
    # A file the service cannot read: exit 1 with the reason, nothing written.
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    code, out, err = await _cli(
        database_url, str(empty), "--profile", "vodafone-despatch", cwd=tmp_path
    )
    assert code == 1 and "the file is empty" in err


O2_PROFILE = """
name = "o2-despatch"
description = "O2 despatch report: one row per handset"
kind = "delivery"
formats = ["csv"]

[[fields]]
name = "delivered_on"
aliases = ["Ship Dt"]
parser = "date"
required_column = true
required_value = true

[[fields]]
name = "supplier_order_ref"
aliases = ["O2 Ref"]
parser = "text"
required_column = true
required_value = true

[[fields]]
name = "po_number"
aliases = ["PO"]
parser = "text"
required_column = true
required_value = true

[[fields]]
name = "part_number"
aliases = ["SKU"]
parser = "upper"
required_column = true
required_value = true

[[fields]]
name = "imei"
aliases = ["Handset IMEI"]
parser = "imei"
required_column = true
required_value = true
"""


async def test_a_profile_added_from_a_file_imports_without_code(tmp_path: Path) -> None:
    o = await order()
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "o2.toml").write_text(O2_PROFILE)
    rows = [handset(o) for _ in range(2)]
    path = tmp_path / "o2.csv"
    path.write_text(
        "Ship Dt,O2 Ref,PO,SKU,Handset IMEI\n"
        + "".join(f"14/11/2022,O2-1,{o['po']['number']},{o['part']},{r['IMEI']}\n" for r in rows)
    )
    item = await deliveries.run_import(
        ACTOR,
        path=path,
        file_name="o2.csv",
        profile_name="o2-despatch",
        mode="commit",
        extra_profile_dirs=[profiles],
    )
    assert item["status"] == "committed" and item["counts"]["new"] == 2, item
    async with connection() as conn:
        imeis = await conn.fetch(
            "SELECT imei, serial_number FROM asset WHERE delivery_import_id = $1", item["id"]
        )
    assert sorted(r["imei"] for r in imeis) == sorted(r["IMEI"] for r in rows)
