"""Finance's forecasts page over ASGI: the table by financial year, the chart, the downloads
(the API's files), bad parameters beside their fields, and who may open it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import openpyxl

from tests import factories as f
from tests.conftest import ClientFactory
from tests.web.conftest import SignedInFactory

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _handsets(manufacturer: str = "Samsung") -> dict[str, object]:
    """2 handsets due in 2024/25, 3 in 2025/26 and 1 overdue, at £300 each."""
    model = await f.device_model(
        lifecycle_months=36, replacement_cost=Decimal("300.00"), manufacturer=manufacturer
    )
    for due, n in ((dt.date(2024, 5, 1), 2), (dt.date(2025, 6, 1), 3), (dt.date(2023, 1, 1), 1)):
        for _ in range(n):
            await f.asset(model, status="deployed", refresh_due_on=due)
    return model


def _row_of(html: str, label: str) -> str:
    found = re.search(r"<tr>\s*<th scope=\"row\">" + re.escape(label) + r".*?</tr>", html, re.S)
    assert found, f"no row for {label}"
    return found.group(0)


async def test_the_refresh_forecast_by_year_with_a_chart(signed_in_as: SignedInFactory) -> None:
    model = await _handsets()
    me = await signed_in_as("finance")
    r = await me.client.get("/forecasts", params={"from": "2024/25", "years": "3"})
    assert r.status_code == 200, r.text
    row = _row_of(r.text, f"{model['manufacturer']} {model['model_name']}")
    cells = re.findall(r'<td class="num">(?:<strong>)?(£[\d,.]+)', row)
    # Overdue, the three years, the total.
    assert cells == ["£300.00", "£600.00", "£900.00", "£0.00", "£1,800.00"]
    assert "2024/25" in r.text and "2026/27" in r.text
    # The chart: an SVG drawn on the server, a bar per year with a value, no script.
    svg = r.text.split('<svg class="chart__svg"', 1)[1].split("</svg>", 1)[0]
    assert svg.count('class="chart__label"') == 4  # Overdue, then the three years
    assert '<rect class="chart__bar' in svg and "<script" not in svg
    # The downloads keep the parameters.
    assert 'href="/forecasts/download?kind=refresh&amp;from=2024%2F25&amp;years=3' in r.text


async def test_the_totals_are_those_of_the_api(
    signed_in_as: SignedInFactory, client_for: ClientFactory
) -> None:
    await _handsets()
    me = await signed_in_as("finance")
    page = await me.client.get(
        "/forecasts", params={"from": "2024/25", "years": "2", "group_by": "category"}
    )
    api = await (await client_for("finance")).get(
        "/api/v1/forecasts/refresh", params={"from": "2024/25", "years": "2"}
    )
    for total in api.json()["year_totals"]:
        shown = re.search(rf'data-year="{re.escape(total["year"])}">(£[\d,.]+)', page.text)
        assert shown, total["year"]
        assert shown.group(1) == f"£{Decimal(total['cost']):,.2f}"


async def test_downloads_are_the_apis_files(signed_in_as: SignedInFactory) -> None:
    model = await _handsets(manufacturer="=HYPERLINK(1)")
    me = await signed_in_as("stores")
    params = {"kind": "refresh", "from": "2024/25", "years": "2", "format": "csv"}
    r = await me.client.get("/forecasts/download", params=params)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == "attachment; filename=refresh-forecast-2024-25.csv"
    rows = list(csv.DictReader(io.StringIO(r.text)))
    [mine] = [row for row in rows if row["group_key"] == str(model["id"])]
    assert mine["group"].startswith("'=HYPERLINK(1)")  # formula-safe
    assert mine["2025/26 cost"] == "900.00"
    r = await me.client.get("/forecasts/download", params={**params, "format": "xlsx"})
    assert r.headers["content-type"] == XLSX
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert book.sheetnames[:3] == ["Refresh cost", "Devices", "Unpriced"]
    r = await me.client.get(
        "/forecasts/download", params={**params, "kind": "recurring", "format": "xlsx"}
    )
    assert r.headers["content-disposition"].endswith("recurring-forecast-2024-25.xlsx")


async def test_the_recurring_forecast_by_kind_and_contract(signed_in_as: SignedInFactory) -> None:
    contract = await f.contract(
        "airtime", starts_on=dt.date(2024, 4, 1), ends_on=dt.date(2025, 9, 30)
    )
    await f.insert(
        "contract_charge",
        contract_id=contract["id"],
        description="airtime per active SIM",
        applies_to="sim",
        unit_amount=Decimal("5.00"),
        period="month",
    )
    for _ in range(2):
        await f.sim(contract_id=contract["id"], status="active")
    me = await signed_in_as("auditor")
    r = await me.client.get(
        "/forecasts", params={"kind": "recurring", "from": "2024/25", "years": "3"}
    )
    assert r.status_code == 200
    block = r.text.split(contract["reference"], 1)[1].split("</tbody>", 1)[0]
    # Two SIMs at £5 a month: 12 months, then 6 until the contract ends, then none.
    assert re.findall(r"<strong>(£[\d,.]+)</strong>", block)[:4] == [
        "£120.00",
        "£60.00",
        "£0.00",
        "£180.00",
    ]
    assert "Contracts that end within these years" in r.text
    assert 'id="field-group_by"' not in r.text  # the recurring forecast is not grouped


async def test_bad_parameters_are_shown_beside_their_fields(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("finance")
    r = await me.client.get("/forecasts", params={"from": "2024-25", "years": "99"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("text/html")
    assert 'id="field-from-error"' in r.text and 'id="field-years-error"' in r.text
    assert "A financial year like 2025/26." in r.text
    assert "A whole number of years from 1 to 20." in r.text
    r = await me.client.get("/forecasts/download", params={"format": "pdf"})
    assert r.status_code == 422 and "text/html" in r.headers["content-type"]


async def test_the_mdm_role_may_not_open_forecasts(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("mdm")
    r = await me.client.get("/forecasts")
    assert r.status_code == 403
    assert 'href="/forecasts"' not in (await me.client.get("/")).text
