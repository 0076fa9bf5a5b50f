"""The stocktake pages over ASGI: the list and starting one, the scan page with and without
its script (the fragment it asks for, and the plain form post), the result and the close,
and who may do what."""

from __future__ import annotations

import re

import pytest

from db.engine import connection
from tests import factories
from tests.conftest import unique
from tests.web.conftest import SignedInFactory

pytestmark = pytest.mark.usefixtures("app")
FRAGMENT = {"X-Fleetsvc-Fragment": "scan"}


async def test_stores_count_a_location_from_start_to_close(signed_in_as: SignedInFactory) -> None:
    stores = await signed_in_as("stores")
    here = await factories.location(name="Northtown station")
    kept = [await factories.asset(location_id=here["id"]) for _ in range(2)]
    away = await factories.asset(location_id=(await factories.location())["id"])

    listing = await stores.client.get("/stocktakes")
    assert listing.status_code == 200
    assert f'<option value="{here["id"]}"' in listing.text and "Start counting" in listing.text
    opened = await stores.post("/stocktakes", {"location_id": str(here["id"])})
    assert opened.status_code == 303
    scan_url = opened.headers["location"]
    stocktake_id = int(re.fullmatch(r"/stocktakes/(\d+)/scan", scan_url).group(1))  # type: ignore[union-attr]

    page = await stores.client.get(scan_url)
    assert page.status_code == 200
    assert 'id="field-code"' in page.text and "autofocus" in page.text
    assert "scan.js" in page.text and "Ready" in page.text

    # Without the script: the form posts, and the page shows the answer.
    r = await stores.post(scan_url, {"code": kept[0]["serial_number"].lower()})
    assert r.status_code == 303 and r.headers["location"] == scan_url
    page = await stores.client.get(scan_url)
    assert "Found" in page.text and kept[0]["serial_number"] in page.text

    # With it: the fragment, answered at once, with the running counts.
    csrf = await stores.csrf()
    r = await stores.client.post(
        scan_url, data={"csrf_token": csrf, "code": away["serial_number"]}, headers=FRAGMENT
    )
    assert r.status_code == 200 and r.headers["x-fleetsvc-fragment"] == "scan"
    assert "<html" not in r.text and 'data-part="scan-answer"' in r.text
    assert "Elsewhere" in r.text and "kept at" in r.text
    assert re.search(r"Found</dt><dd>1 <span class=\"counts__of\">of 2 expected", r.text)
    r = await stores.client.post(
        scan_url, data={"csrf_token": csrf, "code": kept[0]["imei"]}, headers=FRAGMENT
    )
    assert "Already scanned" in r.text
    r = await stores.client.post(
        scan_url, data={"csrf_token": csrf, "code": "x" * 10_000}, headers=FRAGMENT
    )
    assert r.status_code == 422 and "Not counted" in r.text and "at most 64" in r.text
    r = await stores.client.post(scan_url, data={"csrf_token": csrf, "code": unique("U")})
    assert r.status_code == 303

    result = await stores.client.get(f"/stocktakes/{stocktake_id}")
    assert result.status_code == 200
    assert "Close the stocktake" in result.text and 'id="section-missing"' in result.text
    assert kept[1]["serial_number"] in result.text  # missing
    closed = await stores.post(f"/stocktakes/{stocktake_id}/close", {"move_elsewhere_here": "on"})
    assert closed.status_code == 303
    result = await stores.client.get(f"/stocktakes/{stocktake_id}")
    assert "is closed" in result.text and "Close the stocktake" not in result.text
    assert "Closing moved 1 device(s) here" in result.text
    async with connection() as conn:
        assert (
            await conn.fetchval("SELECT location_id FROM asset WHERE id = $1", away["id"])
            == here["id"]
        )
    # Closed: the scan page leads to the result; a scan is refused in words.
    assert (await stores.client.get(scan_url)).status_code == 303
    late = await stores.post(scan_url, {"code": kept[1]["serial_number"]})
    assert late.status_code == 409 and "closed" in late.text
    csv = await stores.client.get(f"/stocktakes/{stocktake_id}/report?format=csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")


async def test_readers_read_and_do_not_count(signed_in_as: SignedInFactory) -> None:
    stores = await signed_in_as("stores")
    here = await factories.location()
    await stores.post("/stocktakes", {"location_id": str(here["id"])})
    async with connection() as conn:
        stocktake_id = await conn.fetchval(
            "SELECT id FROM stocktake WHERE location_id = $1", here["id"]
        )
    finance = await signed_in_as("finance")
    listing = await finance.client.get("/stocktakes")
    assert listing.status_code == 200 and "Start counting" not in listing.text
    result = await finance.client.get(f"/stocktakes/{stocktake_id}")
    assert result.status_code == 200
    assert "Close the stocktake" not in result.text and "Scan devices" not in result.text
    assert (await finance.client.get(f"/stocktakes/{stocktake_id}/scan")).status_code == 403


async def test_starting_a_second_count_of_a_location_says_why_not(
    signed_in_as: SignedInFactory,
) -> None:
    stores = await signed_in_as("stores")
    here = await factories.location()
    await stores.post("/stocktakes", {"location_id": str(here["id"])})
    again = await stores.post("/stocktakes", {"location_id": str(here["id"])})
    assert again.status_code == 409
    assert "is being counted already" in again.text and "error-summary" in again.text
    nothing = await stores.post("/stocktakes", {"location_id": ""})
    assert nothing.status_code == 422 and "Choose the location to count" in nothing.text
