"""The IMEI's, ICCID's and MSISDN's check constraints (migration 2026-12-04T15:00) accept
exactly what the patterns they replaced accepted, and the database refuses the rest."""

from __future__ import annotations

import importlib

import asyncpg
import pytest

from db.engine import connection
from tests import factories

CHECKS: tuple[tuple[str, str, str, str], ...] = importlib.import_module(
    "db.piccolo_migrations.db_2026_12_04t15_00_00_000000_identifier_checks"
).CHECKS
COLUMN = {"asset_imei_chk": "imei", "sim_iccid_chk": "iccid", "sim_msisdn_chk": "msisdn"}
pytestmark = pytest.mark.usefixtures("app")


def _near(valid: str) -> list[str]:
    """Values one step from a valid one: a digit short or over, a digit swapped for
    another script's digit or a letter, a newline or a space around it."""
    out = [valid, valid[:-1], valid + "0", valid + "\n", "\n" + valid, " " + valid, valid + " "]
    for i in range(len(valid)):
        for other in ("٣", "１", "a", "+", "0"):
            out.append(valid[:i] + other + valid[i + 1 :])
    return out


VALUES = {
    "imei": ["", "3" * 14, "3" * 16, *_near("356938035643809")],
    "iccid": ["", "89", *_near("8944110068256270054"), *_near("89441100682562700545")],
    "msisdn": ["", "+", "+0", *_near("+447700900123"), *_near("+4412345678"), "+1" + "9" * 14],
}


async def _accepted(conn: asyncpg.Connection, check: str, column: str) -> list[bool | None]:
    """Whether ``check`` holds for each of the column's values (None: it is unknown, which a
    CHECK constraint lets pass)."""
    rows = await conn.fetch(
        f"SELECT ({check}) AS ok FROM unnest($1::text[]) WITH ORDINALITY AS v({column}, n)"
        " ORDER BY n",
        VALUES[column],
    )
    return [r["ok"] for r in rows]


@pytest.mark.parametrize("check", CHECKS, ids=[c[1] for c in CHECKS])
async def test_the_check_accepts_what_the_pattern_did(check: tuple[str, str, str, str]) -> None:
    table, name, before, _ = check
    column = COLUMN[name]
    async with connection() as conn:
        enforced = await conn.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = $1::regclass AND conname = $2",
            table,
            name,
        )
        assert enforced.startswith("CHECK ("), enforced
        now = await _accepted(conn, enforced.removeprefix("CHECK "), column)
        old = await _accepted(conn, before, column)
    assert now == old
    assert True in now and False in now  # the values tell accepted from refused


async def test_the_database_refuses_a_malformed_identifier() -> None:
    with pytest.raises(asyncpg.CheckViolationError, match="sim_iccid_chk"):
        await factories.sim(iccid="8944110068256270054\n")
    with pytest.raises(asyncpg.CheckViolationError, match="sim_msisdn_chk"):
        await factories.sim(msisdn="+44770090012٣")
    with pytest.raises(asyncpg.CheckViolationError, match="asset_imei_chk"):
        await factories.asset(imei="35693803564380")
