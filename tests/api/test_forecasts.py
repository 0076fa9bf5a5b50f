"""GET /api/v1/forecasts/refresh and /recurring: JSON, CSV, XLSX, bad input, roles."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from decimal import Decimal
from typing import Any

import httpx
import openpyxl
import pytest

from fleetsvc import __version__
from tests import factories as f
from tests.conftest import ClientFactory

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
D = Decimal


@pytest.fixture
async def finance(client_for: ClientFactory) -> httpx.AsyncClient:
    return await client_for("finance")


async def handsets(manufacturer: str = "Samsung") -> dict[str, Any]:
    """A model with 2 handsets due in 2024/25, 3 in 2025/26 and 1 overdue, at £300."""
    model = await f.device_model(
        lifecycle_months=36, replacement_cost=D("300.00"), manufacturer=manufacturer
    )
    for due, n in ((dt.date(2024, 5, 1), 2), (dt.date(2025, 6, 1), 3), (dt.date(2023, 1, 1), 1)):
        for _ in range(n):
            await f.asset(model, status="deployed", refresh_due_on=due)
    return model


def row_of(rows: list[dict[str, str]], key: object) -> dict[str, str]:
    [row] = [r for r in rows if r["group_key"] == str(key)]
    return row


async def test_refresh_forecast_as_json(finance: httpx.AsyncClient) -> None:
    model = await handsets()

    r = await finance.get(
        "/api/v1/forecasts/refresh", params={"from": "2024/25", "years": "3", "group_by": "model"}
    )

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["from"] == "2024/25"
    assert body["years"] == ["2024/25", "2025/26", "2026/27"]
    assert body["group_by"] == "model"
    assert body["horizon_start"] == "2024-04-01"
    assert body["horizon_end"] == "2027-03-31"
    [g] = [g for g in body["groups"] if g["key"] == str(model["id"])]
    assert g["overdue"] == {"devices": 1, "cost": "300.00"}
    assert g["years"] == [
        {"year": "2024/25", "devices": 2, "cost": "600.00"},
        {"year": "2025/26", "devices": 3, "cost": "900.00"},
        {"year": "2026/27", "devices": 0, "cost": "0.00"},
    ]
    assert g["total"] == {"devices": 6, "cost": "1800.00"}
    # totals are the sums of the rows, exactly
    for i, yt in enumerate(body["year_totals"]):
        assert D(yt["cost"]) == sum(D(x["years"][i]["cost"]) for x in body["groups"])
    assert D(body["total"]["cost"]) == D(body["overdue"]["cost"]) + sum(
        D(y["cost"]) for y in body["year_totals"]
    )


async def test_refresh_forecast_defaults(finance: httpx.AsyncClient) -> None:
    r = await finance.get("/api/v1/forecasts/refresh")
    assert r.status_code == 200
    body = r.json()
    assert len(body["years"]) == 5
    assert body["group_by"] == "model"


@pytest.mark.parametrize(
    "how", [{"headers": {"Accept": "text/csv"}}, {"params": {"format": "csv"}}]
)
async def test_refresh_forecast_as_csv(finance: httpx.AsyncClient, how: dict[str, Any]) -> None:
    model = await handsets(manufacturer="=cmd|' /C calc'!A0")
    params = {"from": "2024/25", "years": "2", **how.get("params", {})}

    r = await finance.get(
        "/api/v1/forecasts/refresh", params=params, headers=how.get("headers", {})
    )

    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"  # once: was doubled
    assert "filename=refresh-forecast-2024-25.csv" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    mine = row_of(rows, model["id"])
    assert mine["group"] == f"'=cmd|' /C calc'!A0 {model['model_name']}"  # no formula
    assert mine["overdue devices"] == "1"
    assert mine["overdue cost"] == "300.00"
    assert mine["2024/25 cost"] == "600.00"
    assert mine["2025/26 devices"] == "3"
    assert mine["total cost"] == "1800.00"
    total = rows[-1]
    assert total["group"] == "Total"
    assert D(total["2025/26 cost"]) == sum(D(x["2025/26 cost"]) for x in rows[:-1])


async def test_refresh_forecast_as_xlsx(finance: httpx.AsyncClient) -> None:
    model = await handsets(manufacturer="=cmd")

    r = await finance.get(
        "/api/v1/forecasts/refresh", params={"from": "2024/25", "years": "3", "format": "xlsx"}
    )

    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX
    assert r.headers["content-disposition"] == "attachment; filename=refresh-forecast-2024-25.xlsx"
    assert "xl/charts/chart1.xml" in zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert book.sheetnames[0] == "Refresh cost"
    assert "Parameters" in book.sheetnames
    ws = book["Refresh cost"]
    rows = list(ws.iter_rows(values_only=True))
    header = rows[2]
    assert header == ("Model", "Overdue", "2024/25", "2025/26", "2026/27", "Total")
    [mine] = [row for row in rows if row[0] == f"'=cmd {model['model_name']}"]
    assert mine[1:] == (300, 600, 900, 0, 1800)
    [total_row] = [row for row in rows if row[0] == "Total"]
    body = rows[3 : rows.index(total_row)]
    for col in range(1, 6):
        assert total_row[col] == pytest.approx(sum(row[col] for row in body))
    money_cell = ws.cell(row=rows.index(mine) + 1, column=3)
    assert money_cell.number_format == "£#,##0.00"

    params = dict(book["Parameters"].iter_rows(min_row=2, values_only=True))
    assert params["First financial year"] == "2024/25"
    assert params["Years"] == 3
    assert params["Grouped by"] == "model"
    assert params["Service version"] == f"fleetsvc {__version__}"
    generated = dt.datetime.strptime(params["Generated at (UTC)"], "%Y-%m-%d %H:%M:%S")
    assert abs(generated - dt.datetime.now(dt.UTC).replace(tzinfo=None)) < dt.timedelta(hours=1)


async def test_recurring_forecast_json_csv_and_xlsx(finance: httpx.AsyncClient) -> None:
    con = await f.contract("airtime", starts_on=dt.date(2021, 4, 1), ends_on=dt.date(2026, 9, 30))
    await f.insert(
        "contract_charge",
        contract_id=con["id"],
        description="@airtime bundle",
        applies_to="sim",
        unit_amount=D("9.50"),
        period="month",
    )
    await f.sim(contract_id=con["id"])
    await f.sim(contract_id=con["id"])
    params = {"from": "2025/26", "years": "2"}

    r = await finance.get("/api/v1/forecasts/recurring", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    [c] = [c for c in body["contracts"] if c["contract_id"] == con["id"]]
    assert c["ends_in_horizon"] is True
    assert c["ends_on"] == "2026-09-30"
    assert [y["cost"] for y in c["years"]] == ["228.00", "114.00"]
    assert c["gap"] == {
        "starts_on": "2026-10-01",
        "ends_on": "2027-03-31",
        "months": 6,
        "cost_at_current_rates": "114.00",
    }
    assert D(body["total"]) == sum(D(y["cost"]) for y in body["year_totals"])

    r = await finance.get("/api/v1/forecasts/recurring", params={**params, "format": "csv"})
    assert r.status_code == 200
    assert "filename=recurring-forecast-2025-26.csv" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    [mine] = [row for row in rows if row["contract"] == con["reference"]]
    assert mine["description"] == "'@airtime bundle"
    assert (mine["2025/26"], mine["2026/27"], mine["ends_in_horizon"]) == (
        "228.00",
        "114.00",
        "yes",
    )

    r = await finance.get("/api/v1/forecasts/recurring", params={**params, "format": "xlsx"})
    assert r.status_code == 200
    assert r.headers["content-type"] == XLSX
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["Recurring cost", "By kind", "Contract gaps", "Parameters"]
    [mine_x] = [
        row
        for row in book["Recurring cost"].iter_rows(values_only=True)
        if row[0] == con["reference"]
    ]
    assert mine_x[2] == "'@airtime bundle"
    assert mine_x[6:9] == (228, 114, 342)
    gaps = [row[0] for row in book["Contract gaps"].iter_rows(values_only=True)]
    assert con["reference"] in gaps
    assert "xl/charts/chart1.xml" in zipfile.ZipFile(io.BytesIO(r.content)).namelist()


LAST_YEAR_MESSAGE = (
    "a financial year like 2025/26; the forecast's last year must be 9998/99 or earlier"
)


@pytest.mark.parametrize(
    "path,params,field,message",
    [
        ("refresh", {"from": "2025-26"}, "from", "a financial year like 2025/26"),
        ("refresh", {"from": "2025/27"}, "from", "a financial year like 2025/26"),
        ("refresh", {"years": "0"}, "years", "a whole number of years from 1 to 20"),
        ("refresh", {"years": "500"}, "years", "a whole number of years from 1 to 20"),
        (
            "refresh",
            {"group_by": "colour"},
            "group_by",
            "one of model, category, contract, business_unit",
        ),
        ("refresh", {"format": "pdf"}, "format", "one of json, csv, xlsx"),
        ("recurring", {"from": "2025"}, "from", "a financial year like 2025/26"),
        ("recurring", {"years": "21"}, "years", "a whole number of years from 1 to 20"),
        # A superscript two passes str.isdigit() but int() refuses it: once a 500.
        ("refresh", {"years": "\u00b2"}, "years", "a whole number of years from 1 to 20"),
        ("recurring", {"years": "\u0663"}, "years", "a whole number of years from 1 to 20"),
        ("recurring", {"format": "ods"}, "format", "one of json, csv, xlsx"),
        # The document's enum lists the formats exactly: empty or upper-case is refused.
        ("refresh", {"format": ""}, "format", "one of json, csv, xlsx"),
        ("recurring", {"format": "CSV"}, "format", "one of json, csv, xlsx"),
        # A horizon past 31 March 9999 is no date at all: once a 500.
        ("refresh", {"from": "9999/00"}, "from", LAST_YEAR_MESSAGE),
        ("recurring", {"from": "9990/91", "years": "20"}, "from", LAST_YEAR_MESSAGE),
    ],
)
async def test_bad_input_is_a_422_saying_what_is_accepted(
    finance: httpx.AsyncClient, path: str, params: dict[str, str], field: str, message: str
) -> None:
    r = await finance.get(f"/api/v1/forecasts/{path}", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert {"field": field, "message": message} in r.json()["errors"]


@pytest.mark.parametrize("role", ["admin", "finance", "auditor", "engineer", "stores"])
async def test_finance_roles_may_read_forecasts(client_for: ClientFactory, role: str) -> None:
    client = await client_for(role)
    for path in ("refresh", "recurring"):
        r = await client.get(f"/api/v1/forecasts/{path}", params={"years": "1"})
        assert r.status_code == 200, (role, path, r.text)


async def test_mdm_role_and_anonymous_are_refused(
    client_for: ClientFactory, anon: httpx.AsyncClient
) -> None:
    mdm = await client_for("mdm")
    for path in ("refresh", "recurring"):
        assert (await mdm.get(f"/api/v1/forecasts/{path}")).status_code == 403
        assert (await anon.get(f"/api/v1/forecasts/{path}")).status_code == 401
