"""The delivery import run itself: batches, progress and failures (the `fleetsvc import`
command is tested in tests/fleetsvc/commands/test_imports.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.engine import connection
from fleetsvc.auth import Actor
from fleetsvc.errors import ValidationFailed
from fleetsvc.imports import run, staging
from tests.api.test_imports import count, csv_bytes, handset, one, order

ACTOR = Actor("tests", "stores")
# The app's lifespan opens the connection pool the service uses.
pytestmark = pytest.mark.usefixtures("app")


async def test_many_batches_with_progress(tmp_path: Path) -> None:
    o = await order(quantity=20_000)
    rows = staging.BATCH_ROWS * 2 + 7
    path = tmp_path / "big.csv"
    path.write_bytes(csv_bytes([handset(o) for _ in range(rows)]))
    seen: list[tuple[int, float | None]] = []
    item = await run.run_import(
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
    assert item.status == "committed" and item.counts["new"] == rows
    async with connection() as conn:
        created = await conn.fetchval(
            "SELECT count(*) FROM asset WHERE delivery_import_id = $1", item.id
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
        await run.run_import(
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


async def test_a_commit_runs_in_its_callers_transaction_and_tells_its_phases(
    tmp_path: Path,
) -> None:
    o = await order()
    path = tmp_path / "despatch.csv"
    path.write_bytes(csv_bytes([handset(o) for _ in range(2)]))
    preview = await run.run_import(
        ACTOR, path=path, file_name="despatch.csv", profile_name="vodafone-despatch"
    )
    phases: list[str] = []
    async with connection() as conn:
        tx = conn.transaction()
        await tx.start()
        await run.commit_staged(
            conn, ACTOR, preview.id, allow_partial=False, on_phase=phases.append
        )
        await tx.rollback()  # the caller owns the transaction: nothing of it stays
    assert phases == ["classifying", "reporting", "applying"]
    status = await one("SELECT status FROM delivery_import WHERE id = $1", preview.id)
    assert status["status"] == "previewed"
    assert await count("SELECT count(*) FROM asset WHERE delivery_import_id = $1", preview.id) == 0
    done = await run.commit_import(ACTOR, preview.id, allow_partial=False)
    assert done.status == "committed" and done.counts["new"] == 2
