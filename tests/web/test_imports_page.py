"""The delivery-import pages over ASGI: upload → preview → commit → result, rejected rows and
conflicts, rejected.csv, one commit for two clicks, the progress view, a file too large, and
who may do what."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from typing import Any

import httpx
import pytest

from db.engine import connection
from tests import factories
from tests.api.test_imports import assets_of, csv_bytes, handset, order
from tests.web.conftest import SignedIn, SignedInFactory


async def upload(
    me: SignedIn,
    content: bytes,
    profile: str = "vodafone-despatch",
    *,
    filename: str = "despatch.csv",
    token: str | None = None,
) -> httpx.Response:
    data = {"profile": profile}
    if token != "":
        data["csrf_token"] = token or await me.csrf()
    return await me.client.post(
        "/imports", data=data, files={"file": (filename, content, "text/csv")}
    )


def import_id_of(r: httpx.Response) -> int:
    assert r.status_code == 303, r.text[:2000]
    found = re.fullmatch(r"/imports/(\d+)", r.headers["location"])
    assert found, r.headers["location"]
    return int(found.group(1))


def figures(html: str) -> dict[str, str]:
    block = html.split('<dl class="counts">', 1)[1].split("</dl>", 1)[0]
    return {
        re.sub(r"<[^>]+>", "", k): v
        for k, v in re.findall(r"<dt>(.*?)</dt><dd>([\d,]+)</dd>", block)
    }


async def _events(import_id: int) -> list[tuple[str, str]]:
    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT action, actor_name FROM event WHERE entity = 'delivery_import'"
            " AND entity_id = $1 ORDER BY id",
            import_id,
        )
    return [(r["action"], r["actor_name"]) for r in rows]


async def test_upload_preview_then_commit(signed_in_as: SignedInFactory) -> None:
    o = await order(quantity=2)
    rows = [handset(o) for _ in range(3)]
    me = await signed_in_as("stores")
    import_id = import_id_of(await upload(me, csv_bytes(rows)))
    preview = await me.client.get(f"/imports/{import_id}")
    assert preview.status_code == 200
    assert "This is a preview:" in preview.text
    shown = figures(preview.text)
    assert shown["Rows"] == "3" and shown["New"] == "3" and shown["Rejected"] == "0"
    # The order's line: ordered 2, none before, 3 in this file, 1 over.
    line = preview.text.split(f">{o['po']['number']}</a>", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<td class="num">(?:<span class="tag tag--warn">)?([\d,]+)', line) == [
        "2",
        "0",
        "3",
        "3",
        "1",
    ]
    assert await assets_of(import_id) == []  # nothing in the register yet
    assert 'action="/imports/' in preview.text and "Commit 3 new rows" in preview.text

    r = await me.post(f"/imports/{import_id}/commit", {"allow_partial": "false"})
    assert r.status_code == 303 and r.headers["location"] == f"/imports/{import_id}"
    done = await me.client.get(r.headers["location"])
    assert "<strong>Committed.</strong> 3 new rows went into the register." in done.text
    assert "Commit 3 new rows" not in done.text  # nothing left to commit
    assert len(await assets_of(import_id)) == 3
    who = f"user:{me.account.id}"
    assert await _events(import_id) == [
        ("created", who),
        ("previewed", who),
        ("items_created", who),
        ("committed", who),
    ]
    # The list of past imports: who (their address, on the page only), the file, the status.
    listed = await me.client.get("/imports")
    row = listed.text.split(f'<a href="/imports/{import_id}">{import_id}</a>', 1)[1]
    row = row.split("</tr>", 1)[0]
    assert "despatch.csv" in row and "committed" in row and me.account.email in row


async def test_rejected_rows_and_conflicts_then_the_valid_rows_committed(
    signed_in_as: SignedInFactory,
) -> None:
    o = await order(quantity=10)
    existing = await factories.asset(o["model"])
    good = [handset(o), handset(o)]
    clash = handset(o, IMEI=existing["imei"])
    bad = handset(o, IMEI="35209911X000000")
    me = await signed_in_as("stores")
    import_id = import_id_of(await upload(me, csv_bytes([*good, clash, bad])))
    page = await me.client.get(f"/imports/{import_id}")
    shown = figures(page.text)
    assert (shown["New"], shown["Conflicts"], shown["Rejected"]) == ("2", "1", "1")
    conflicts = page.text.split('<h2 id="conflicts">', 1)[1].split("<h2", 1)[0]
    assert f"Already registered as asset {existing['id']} with a different" in conflicts
    assert "serial number" in conflicts and existing["imei"] in conflicts
    rejected = page.text.split('<h2 id="rejected">', 1)[1].split("<h2", 1)[0]
    assert "35209911X000000" in rejected and "IMEI" in rejected
    assert existing["imei"] not in rejected  # the conflict is not listed twice
    assert "2 rows are held back" in page.text and "Commit the 2 valid rows" in page.text

    r = await me.post(f"/imports/{import_id}/commit", {"allow_partial": "true"})
    done = await me.client.get(r.headers["location"])
    assert "2 rows were left out" in done.text
    assert sorted(a["imei"] for a in await assets_of(import_id)) == sorted(g["IMEI"] for g in good)
    csv_file = await me.client.get(f"/imports/{import_id}/rejected.csv")
    assert csv_file.status_code == 200
    assert (
        csv_file.headers["content-disposition"]
        == f'attachment; filename="rejected-{import_id}.csv"'
    )
    kept = list(csv.DictReader(io.StringIO(csv_file.text.lstrip("\ufeff"))))
    assert [k["IMEI"] for k in kept] == [clash["IMEI"], bad["IMEI"]]
    assert all(k["error"] for k in kept)


async def test_two_clicks_on_commit_commit_once(signed_in_as: SignedInFactory) -> None:
    o = await order(quantity=5)
    me = await signed_in_as("stores")
    import_id = import_id_of(await upload(me, csv_bytes([handset(o) for _ in range(5)])))
    token = await me.csrf()
    first, second = await asyncio.gather(
        *(
            me.client.post(
                f"/imports/{import_id}/commit",
                data={"csrf_token": token, "allow_partial": "false"},
            )
            for _ in range(2)
        )
    )
    assert first.status_code == second.status_code == 303
    assert len(await assets_of(import_id)) == 5
    assert [a for a, _ in await _events(import_id)].count("committed") == 1


async def test_a_file_the_import_refuses_is_said_beside_the_field(
    signed_in_as: SignedInFactory,
) -> None:
    me = await signed_in_as("stores")
    r = await upload(me, b"Name,Colour\nx,y\n")
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert 'id="field-file-error"' in r.text and "No header row for vodafone-despatch" in r.text
    r = await upload(me, b"", filename="")
    assert r.status_code == 422 and "That file is empty: choose the supplier&#39;s." in r.text
    r = await upload(me, csv_bytes([]), profile="no-such-profile")
    assert r.status_code == 422 and "unknown import profile" in r.text.lower()


async def test_a_file_too_large_is_said_on_the_page(
    signed_in_as: SignedInFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleetsvc.settings import get_settings

    me = await signed_in_as("stores")
    token = await me.csrf()
    monkeypatch.setenv("FLEETSVC_MAX_UPLOAD_MB", "1")
    get_settings.cache_clear()
    try:
        r = await upload(me, b"x" * (1024 * 1024 + 10), token=token)
    finally:
        monkeypatch.delenv("FLEETSVC_MAX_UPLOAD_MB")
        get_settings.cache_clear()
    assert r.status_code == 413 and r.headers["content-type"].startswith("text/html")
    assert "The file is larger than the 1 MiB this service accepts" in r.text
    assert 'id="field-file"' in r.text  # the form again, to choose another file


async def test_an_upload_without_its_form_token_is_refused(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("stores")
    for token in ("", "forged"):
        r = await upload(me, csv_bytes([]), token=token)
        assert r.status_code == 403 and "This form could not be accepted" in r.text
    r = await me.client.post(
        "/imports",
        data={"csrf_token": await me.csrf(), "profile": "vodafone-despatch"},
        files={"file": ("x.csv", b"a", "text/csv")},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403


async def test_an_import_in_progress_shows_how_far_it_is(signed_in_as: SignedInFactory) -> None:
    running = await factories.insert(
        "delivery_import",
        profile="vodafone-despatch",
        file_name="big.csv",
        sha256="0" * 64,
        size_bytes=1,
        status="running",
        allow_partial=False,
        created_by="tests",
        created_role="stores",
        counts='{"rows": 15000}',
        summary="{}",
    )
    me = await signed_in_as("finance")
    page = await me.client.get(f"/imports/{running['id']}")
    assert page.status_code == 200
    assert f'data-progress-url="/imports/{running["id"]}/progress"' in page.text
    assert "15,000 rows read so far" in page.text
    assert f'<a href="/imports/{running["id"]}" data-refresh>Refresh</a>' in page.text
    r = await me.client.get(f"/imports/{running['id']}/progress")
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    assert body["in_progress"] is True and body["rows"] == 15000 and body["status"] == "running"


@pytest.mark.parametrize("role", ["finance", "engineer", "mdm", "auditor"])
async def test_roles_that_may_not_import_see_no_import_actions(
    signed_in_as: SignedInFactory, role: str
) -> None:
    o = await order(quantity=1)
    stores = await signed_in_as("stores")
    import_id = import_id_of(await upload(stores, csv_bytes([handset(o)])))
    me = await signed_in_as(role)
    listed = await me.client.get("/imports")
    assert listed.status_code == 200 and 'enctype="multipart/form-data"' not in listed.text
    page = await me.client.get(f"/imports/{import_id}")
    assert page.status_code == 200 and "/commit" not in page.text
    assert (await upload(me, csv_bytes([handset(o)]))).status_code == 403
    r = await me.post(f"/imports/{import_id}/commit", {"allow_partial": "false"})
    assert r.status_code == 403
    assert await assets_of(import_id) == []


async def test_a_long_commit_shows_its_progress_and_a_second_click_commits_once(
    signed_in_as: SignedInFactory, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.api.test_imports_jobs import apply_lock_held

    monkeypatch.setattr("web.imports.COMMIT_WAIT_SECONDS", 0.1)
    o = await order(quantity=4)
    me = await signed_in_as("stores")
    import_id = import_id_of(await upload(me, csv_bytes([handset(o) for _ in range(4)])))
    async with apply_lock_held(database_url):  # the commit waits in its transaction
        for _ in range(2):
            r = await me.post(f"/imports/{import_id}/commit", {"allow_partial": "false"})
            assert r.status_code == 303 and r.headers["location"] == f"/imports/{import_id}"
        page = await me.client.get(f"/imports/{import_id}")
        assert f'data-progress-url="/imports/{import_id}/progress"' in page.text
        assert "Still working on this file." in page.text
        assert f'action="/imports/{import_id}/commit"' not in page.text  # no third click
        body = (await me.client.get(f"/imports/{import_id}/progress")).json()
        assert body["in_progress"] is True and body["text"].startswith("Committing 4 rows")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while (await me.client.get(f"/imports/{import_id}/progress")).json()["in_progress"]:
        assert loop.time() < deadline
        await asyncio.sleep(0.05)
    assert len(await assets_of(import_id)) == 4
    assert [a for a, _ in await _events(import_id)].count("committed") == 1
    async with connection() as conn:
        jobs = await conn.fetchval(
            "SELECT count(*) FROM job WHERE kind = 'import.commit'"
            " AND (payload ->> 'import_id')::int = $1",
            import_id,
        )
    assert jobs == 1
