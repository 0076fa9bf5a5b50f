"""`fleetsvc forecast`: the same forecasts from the command line."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from tests import factories as f

pytestmark = pytest.mark.usefixtures("app")
FLEETSVC = str(Path(sys.executable).parent / "fleetsvc")


def run(database_url: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url, "FLEETSVC_LOG_LEVEL": "warning"}
    return subprocess.run(
        [FLEETSVC, "forecast", *args], env=env, capture_output=True, timeout=120, check=False
    )


async def test_forecast_command_writes_json_csv_and_xlsx(database_url: str, tmp_path: Path):
    model = await f.device_model(lifecycle_months=36, replacement_cost=Decimal("300.00"))
    for _ in range(2):
        await f.asset(model, status="deployed", refresh_due_on=dt.date(2025, 7, 1))

    out = run(database_url, "--from", "2025/26", "--years", "2")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    [g] = [g for g in body["groups"] if g["key"] == str(model["id"])]
    assert g["years"][0] == {"year": "2025/26", "devices": 2, "cost": "600.00"}

    out = run(database_url, "--from", "2025/26", "--years", "2", "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout.decode())))
    [mine] = [r for r in rows if r["group_key"] == str(model["id"])]
    assert mine["2025/26 cost"] == "600.00"

    target = tmp_path / "forecast.xlsx"
    out = run(database_url, "--from", "2025/26", "--format", "xlsx", "-o", str(target))
    assert out.returncode == 0, out.stderr
    book = openpyxl.load_workbook(target)
    assert book.sheetnames == ["Refresh cost", "Devices", "Unpriced", "Parameters"]

    out = run(database_url, "--kind", "recurring", "--from", "2025/26", "--years", "1")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["years"] == ["2025/26"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--from", "2025-26"], "--from: a financial year like 2025/26"),
        (["--years", "500"], "--years: a whole number of years from 1 to 20"),
        (["--group-by", "colour"], "--group-by: one of model"),
    ],
)
def test_forecast_command_refuses_bad_parameters(
    database_url: str, args: list[str], message: str
) -> None:
    out = run(database_url, *args)
    assert out.returncode == 2
    assert message in out.stderr.decode()
    assert b"Traceback" not in out.stderr


async def test_group_by_with_the_recurring_forecast_is_refused(database_url: str):
    out = run(database_url, "--kind", "recurring", "--group-by", "model")
    assert out.returncode != 0
    err = out.stderr.decode()
    assert "--group-by" in err and "--kind recurring" in err
    assert "Traceback" not in err
