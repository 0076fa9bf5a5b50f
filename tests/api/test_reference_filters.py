"""People, vehicles, device models, contracts, purchase orders and imports: a filter from
a fixed vocabulary with a value outside it is a 422 naming the accepted values, never an
empty page that looks like "none of those"."""

from __future__ import annotations

import pytest

from tests.conftest import ClientFactory


@pytest.mark.parametrize(
    "path,field,accepted",
    [
        ("/api/v1/people?kind=sergeant", "kind", "special_constable"),
        ("/api/v1/vehicles?status=parked", "status", "off_road"),
        ("/api/v1/models?category=phone", "category", "ivma_tablet"),
        ("/api/v1/contracts?kind=mobile", "kind", "reseller_framework"),
        ("/api/v1/purchase-orders?status=pending", "status", "cancelled"),
        ("/api/v1/imports?status=done", "status", "previewed"),
    ],
)
async def test_unknown_vocabulary_filter_is_422(
    client_for: ClientFactory, path: str, field: str, accepted: str
) -> None:
    r = await (await client_for("auditor")).get(path)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    [error] = r.json()["errors"]
    assert error["field"] == field and accepted in error["message"]
