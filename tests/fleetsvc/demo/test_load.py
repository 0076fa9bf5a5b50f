"""`fleetsvc demo`: a fleet of the real programme's shape, loaded through the domain's
checks and the supplier files' imports, once; a second run changes nothing, not even the
devices a user imported in between on the demo's own purchase orders."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from db.engine import connection
from fleetsvc.finance.forecast import ForecastParams
from fleetsvc.finance.refresh import refresh_forecast
from tests.fleetsvc.demo.helpers import SIZE, demo, rows, run

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


async def _import_the_samples(cwd: Path) -> list[int]:
    """A user imports the sample files, which name the demo's purchase orders: 12 handsets,
    9 tablets and a dock in stock on them, the user's own. Returns their ids."""
    for sample, profile, extra in [
        ("vodafone-despatch.csv", "vodafone-despatch", []),
        ("cdw-asn.csv", "cdw-asn", ["--allow-partial"]),  # its licence line clashes
    ]:
        imported = run(
            "import", str(SAMPLES / sample), "--profile", profile, "--commit", *extra, cwd=cwd
        )
        assert imported.returncode == 0, imported.stdout + imported.stderr
    async with connection() as conn:
        theirs = await conn.fetch(
            "SELECT a.id, a.status, a.person_id FROM asset a JOIN delivery_import d"
            " ON d.id = a.delivery_import_id WHERE d.file_name IN ('vodafone-despatch.csv',"
            " 'cdw-asn.csv')"
        )
    assert len(theirs) == 12 + 9 + 1
    assert {(r["status"], r["person_id"]) for r in theirs} == {("in_stock", None)}
    return [r["id"] for r in theirs]


async def _snapshot() -> dict[str, int]:
    async with connection() as conn:
        row = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM asset a JOIN purchase_order po
                      ON po.id = a.purchase_order_id
                    WHERE po.number IN ('4500051001', '4500071322', '4500061069')) AS assets,
                   (SELECT count(*) FROM person WHERE upn LIKE 'demo.%') AS people,
                   (SELECT count(*) FROM install WHERE job_reference LIKE 'BAB-IVMA-%'
                      AND removed_on IS NULL) AS installs,
                   (SELECT count(*) FROM event) AS events
            """
        )
    assert row is not None
    return dict(row)


async def test_demo_loads_the_programme_shape_once(app: object, tmp_path: Path) -> None:
    first = demo()
    assert first.returncode == 0, first.stderr
    after_first = await _snapshot()
    assert after_first["people"] == SIZE.people
    assert after_first["installs"] == SIZE.vehicles
    handsets = SIZE.handsets_2021 + SIZE.handsets_2022
    assert after_first["assets"] == handsets + SIZE.tablets + SIZE.vehicles

    async with connection() as conn:
        model = await conn.fetchval(
            "SELECT model_id FROM model_part_number WHERE part_number = 'SM-A325FZKGEUB'"
        )
        deployed = await conn.fetch(
            "SELECT a.in_service_on, a.refresh_due_on, a.person_id, p.business_unit_id AS unit,"
            " p.kind FROM asset a LEFT JOIN person p ON p.id = a.person_id"
            " WHERE a.model_id = $1 AND a.status = 'deployed'",
            model,
        )
        specials = await conn.fetchval(
            "SELECT count(*) FROM asset a JOIN person p ON p.id = a.person_id"
            " JOIN model_part_number m ON m.model_id = a.model_id"
            " WHERE m.part_number = 'FZ-L1AHAABVB' AND p.kind = 'special_constable'"
        )
        pool = await conn.fetchrow(
            "SELECT c.reference, (SELECT count(*) FROM licence_seat s WHERE s.pool_id = p.id)"
            " AS used FROM licence_pool p JOIN contract c ON c.id = p.contract_id"
            " WHERE p.licence_key = 'NMX-7Q2P-44KD-9ZZA'"
        )
        report = await refresh_forecast(conn, ForecastParams(2024, 3, "model"))
    assert len(deployed) == handsets and all(r["person_id"] for r in deployed)
    in_2021 = [
        r for r in deployed if dt.date(2021, 4, 1) <= r["in_service_on"] < dt.date(2022, 4, 1)
    ]
    assert len(in_2021) == SIZE.handsets_2021
    # Each year's phones went to officers and staff across the force, not to one kind of unit.
    units_2021 = {r["unit"] for r in deployed if r["in_service_on"] < dt.date(2022, 4, 1)}
    kinds_2021 = {r["kind"] for r in deployed if r["in_service_on"] < dt.date(2022, 4, 1)}
    assert len(units_2021) >= 10 and kinds_2021 == {"officer", "staff"}
    assert all(
        r["refresh_due_on"] == r["in_service_on"].replace(year=r["in_service_on"].year + 3)
        for r in deployed
    )
    assert specials == SIZE.tablets - SIZE.vehicles
    assert pool is not None and pool["reference"] == "CDW-NETMOTION-2021"
    assert pool["used"] == min(SIZE.netmotion_seats, SIZE.vehicles)

    [phones] = [g for g in report.groups if g.key == str(model)]
    by_year = {y.year: (y.devices, y.cost) for y in phones.years}
    # The capital plan's shape at 1/100 scale: £3.0m and £8.9m become these.
    assert by_year["2024/25"] == (SIZE.handsets_2021, Decimal(SIZE.handsets_2021 * 300))
    assert by_year["2025/26"] == (SIZE.handsets_2022, Decimal(SIZE.handsets_2022 * 300))

    theirs = await _import_the_samples(tmp_path)
    async with connection() as conn:
        before = await rows(conn)

    second = demo()
    assert second.returncode == 0, second.stderr
    assert "already loaded" in second.stdout and "nothing was changed" in second.stdout
    async with connection() as conn:
        assert await rows(conn) == before  # every row of the register, and no new event
        actions = await conn.fetch(
            "SELECT DISTINCT action FROM event_history WHERE entity = 'asset'"
            " AND entity_id = ANY($1::bigint[])",
            theirs,
        )
    assert [r["action"] for r in actions] == ["created"]  # the demo never touched them
