"""The `fleetsvc import` command: preview, commit, the progress bar, rejected rows and the
exit status, run as a real process."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from db.engine import connection
from fleetsvc.imports import staging
from tests.api.test_imports import VF_HEADER, csv_bytes, handset, order

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
# The app's lifespan opens the connection pool the tests' own queries use.
pytestmark = pytest.mark.usefixtures("app")


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
    path.write_bytes(csv_bytes([handset(o) for _ in range(staging.BATCH_ROWS + 10)]))
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


async def _imports() -> int:
    async with connection() as conn:
        count: int = await conn.fetchval("SELECT count(*) FROM delivery_import")
    return count


async def test_cli_prints_the_reasons_and_writes_them_all(
    database_url: str, tmp_path: Path
) -> None:
    o = await order(quantity=40)
    rows = [handset(o) for _ in range(22)]
    path = tmp_path / "despatch.csv"
    path.write_bytes(csv_bytes(rows))
    code, out, err = await _cli(
        database_url, str(path), "--profile", "vodafone-despatch", "--commit", cwd=tmp_path
    )
    assert code == 0, out + err
    # The same handsets with another delivery note: 22 conflicts; a 14-digit IMEI (a warning)
    # and an unknown order (a rejected row).
    corrected = [{**r, "Delivery Note": "DN2"} for r in rows]
    short = handset(o)
    short["IMEI"] = short["IMEI"][:14]
    path.write_bytes(csv_bytes([*corrected, short, handset(o, **{"Customer PO": "PO-NOPE-9"})]))
    fix = tmp_path / "fix.csv"
    code, out, err = await _cli(
        database_url,
        str(path),
        "--profile",
        "vodafone-despatch",
        "--rejected-out",
        str(fix),
        cwd=tmp_path,
    )
    assert code == 1, out + err
    lines = out.splitlines()
    assert f"conflicts: the register was not changed (first 20 of 22; all 22 in {fix})" in lines
    first = rows[0]["IMEI"]
    [conflict] = [line for line in lines if line.startswith(f"  row 2 IMEI '{first}': ")]
    assert "with a different delivery reference (file DN2, register DN1)" in conflict
    assert sum(line.startswith("  row ") and "delivery reference" in line for line in lines) == 20
    assert "warnings (1)" in lines
    assert f"  row 24 IMEI '{short['IMEI']}': IMEI had 14 digits; the check digit" in out
    assert "rejected rows (1)" in lines
    assert "  row 25 Customer PO 'PO-NOPE-9': no purchase order PO-NOPE-9" in out
    written = fix.read_text(encoding="utf-8-sig").splitlines()
    assert len(written) == 1 + 22 + 1  # every conflict and rejected row, with its reason
    assert all("delivery reference (file DN2, register DN1)" in w for w in written[1:23])


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--allow-partial"], "--allow-partial without --commit"),
        (["--commit", "--rejected-out", "{file}"], "--rejected-out names FILE itself"),
        (["--commit", "--rejected-out", "{dir}/no/such/fix.csv"], "does not exist"),
    ],
)
async def test_cli_refuses_options_that_contradict(
    database_url: str, tmp_path: Path, args: list[str], said: str
) -> None:
    o = await order()
    path = tmp_path / "despatch.csv"
    path.write_bytes(csv_bytes([handset(o)]))
    before = path.read_bytes(), await _imports()
    given = [a.format(file=path, dir=tmp_path) for a in args]
    code, out, err = await _cli(
        database_url, str(path), "--profile", "vodafone-despatch", *given, cwd=tmp_path
    )
    assert code == 2 and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith("fleetsvc: ") and said in line
    assert (path.read_bytes(), await _imports()) == before


async def test_cli_file_for_another_profile_says_which_and_changes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    before = await _imports()
    code, _, err = await _cli(
        database_url,
        str(SAMPLES / "cdw-asn.csv"),
        "--profile",
        "vodafone-despatch",
        "--commit",
        cwd=tmp_path,
    )
    assert code == 1 and "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("fleetsvc: ") and "cdw-asn" in line
    assert await _imports() == before


async def test_cli_imports_the_hr_people_sample(database_url: str, tmp_path: Path) -> None:
    async with connection() as conn:
        await conn.execute(
            "INSERT INTO business_unit (code, name) SELECT c, c || ' unit'"
            " FROM unnest(ARRAY['CW','NW','NE','SE','SW','MO7','MSC','HQ']) c"
            " ON CONFLICT (code) DO NOTHING"
        )
    code, out, err = await _cli(
        database_url, str(SAMPLES / "hr-people.csv"), "--profile", "hr-people", cwd=tmp_path
    )
    assert code == 0, out + err
    assert "previewed" in out and "personal data" in out
