"""A file committed before, uploaded for a commit again: recognised by its SHA-256 without
being read, its report the one a full evaluation gives; and read afresh as soon as anything
that report depends on has changed."""

from __future__ import annotations

from typing import Any

import httpx

from db.engine import transaction
from tests.api.test_imports import assets_of, count, csv_bytes, handset, issues, order, upload
from tests.conftest import ClientFactory


def _report(body: dict[str, Any]) -> dict[str, Any]:
    """What a user reads in an import's report, without what names the import itself."""
    return {
        k: body[k] for k in ("counts", "po_lines", "licences", "file_warnings", "previous_import")
    }


async def _issues(client: httpx.AsyncClient, import_id: int) -> list[tuple[Any, ...]]:
    out = []
    for status in ("rejected", "warning"):
        for i in await issues(client, import_id, status):
            out.append((i["row"], i["severity"], i["column"], i["value"], i["message"]))
    return out


async def test_recommit_report_is_the_full_evaluations(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    o = await order(quantity=3)
    rows = [handset(o) for _ in range(3)]
    rows.append(dict(rows[1]))  # a duplicate: counted once, with a warning
    rows[2]["IMEI"] = rows[2]["IMEI"][:14]  # completed with a warning
    rows.insert(1, {})  # a blank row: a file warning
    content = csv_bytes(rows)
    first = (await upload(stores, content, mode="commit")).json()
    assert first["status"] == "committed" and first["counts"]["new"] == 3, first

    # A preview is always evaluated in full: it is what the commit's report must equal.
    full = (await upload(stores, content)).json()
    assert full["status"] == "previewed"
    again = (await upload(stores, content, mode="commit")).json()
    assert again["status"] == "committed" and again["id"] not in (first["id"], full["id"])
    assert _report(again) == _report(full)
    assert again["counts"]["unchanged"] == 3 and again["counts"]["duplicates"] == 1
    assert again["po_lines"][0]["over_delivered"] == 0
    assert await _issues(stores, again["id"]) == await _issues(stores, full["id"])
    assert await assets_of(again["id"]) == []
    assert (
        await count("SELECT count(*) FROM asset WHERE purchase_order_id = $1", o["po"]["id"]) == 3
    )
    events = await count(
        "SELECT count(*) FROM event WHERE entity = 'delivery_import' AND entity_id = $1"
        " AND action IN ('created', 'committed')",
        again["id"],
    )
    assert events == 2


async def test_a_changed_item_makes_the_recommit_read_the_file(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    o = await order()
    rows = [handset(o) for _ in range(2)]
    content = csv_bytes(rows)
    first = (await upload(stores, content, mode="commit")).json()
    asset = (await assets_of(first["id"]))[0]
    r = await stores.patch(
        f"/api/v1/assets/{asset['id']}",
        json={"delivery_ref": "DN-CORRECTED"},
        headers={"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text

    # The register no longer says what the file says: the file is evaluated, and the
    # conflict is reported, not hidden behind the first commit's report.
    again = (await upload(stores, content, mode="commit")).json()
    assert again["status"] == "rejected", (again["counts"], again["file_warnings"])
    assert (again["counts"]["conflicts"], again["counts"]["unchanged"]) == (1, 1)
    [error] = await issues(stores, again["id"], "rejected")
    assert "delivery reference (file DN1, register DN-CORRECTED)" in error["message"]


async def test_a_cancelled_order_makes_the_recommit_read_the_file(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    o = await order()
    content = csv_bytes([handset(o)])
    first = (await upload(stores, content, mode="commit")).json()
    assert first["status"] == "committed"
    async with transaction() as conn:
        await conn.execute(
            "UPDATE purchase_order SET status = 'cancelled', updated_at = now() WHERE id = $1",
            o["po"]["id"],
        )
    again = (await upload(stores, content, mode="commit")).json()
    assert again["status"] == "rejected" and again["counts"]["rejected"] == 1, again


async def test_a_partial_first_commit_is_not_repeated(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    o = await order()
    rows = [handset(o), handset(o, **{"Product Code": "NO-SUCH-PART"})]
    content = csv_bytes(rows)
    first = (await upload(stores, content, mode="commit", allow_partial=True)).json()
    assert first["status"] == "committed" and first["counts"]["rejected"] == 1
    # The rejected row may be accepted now: the file is evaluated again, in full.
    again = (await upload(stores, content, mode="commit", allow_partial=True)).json()
    assert again["status"] == "committed"
    assert (again["counts"]["unchanged"], again["counts"]["rejected"]) == (1, 1)
    assert len(await issues(stores, again["id"], "rejected")) == 1
