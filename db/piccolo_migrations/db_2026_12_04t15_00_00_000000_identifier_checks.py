"""The IMEI's, ICCID's and MSISDN's check constraints test the length apart from the
digits, so the regular expression each runs is a short loop (issue 15).

Every delivered handset ran three of them (``asset_imei_chk``, ``sim_iccid_chk``,
``sim_msisdn_chk``), and a profile of the 29,737-handset write (perf, the backend) put a
tenth of its CPU in PostgreSQL's regular-expression engine: a counted repeat such as
``[0-9]{17,18}`` unrolls into one automaton state per position, and each match starts with
an empty state cache, so every character of every identifier cost a cache miss. The same
rule as a length and a repeat with no count, ``octet_length(iccid) IN (19, 20) AND iccid ~
'^89[0-9]*$'``, leaves the automaton three states, cached after the first digit.

The rules are unchanged, and the constraints keep their names (an error names the
constraint): ``[0-9]`` matches only the ASCII digits, one byte each, so a value the
unbounded pattern accepts has as many bytes as characters, and its length in bytes is the
count the old pattern bounded. ``tests/db/test_identifier_checks.py`` checks both forms
agree on values chosen to tell them apart (non-ASCII digits, a newline at the end, one
digit short or over).

Measured: the three expressions over 59,474 stored values, 56 / 38 / 50 ms before, 15 /
11 / 14 ms after; the rolled-back write of 29,737 handsets and SIMs, backend CPU median of
6, 0.655 s → 0.590 s.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T15:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "IMEI, ICCID and MSISDN checks: a length and an uncounted repeat"

# (table, constraint, the check as it was, the check now)
CHECKS = (
    (
        "asset",
        "asset_imei_chk",
        r"imei IS NULL OR imei ~ '^[0-9]{15}$'",
        r"imei IS NULL OR octet_length(imei) = 15 AND imei ~ '^[0-9]*$'",
    ),
    (
        "sim",
        "sim_iccid_chk",
        r"iccid ~ '^89[0-9]{17,18}$'",
        r"octet_length(iccid) IN (19, 20) AND iccid ~ '^89[0-9]*$'",
    ),
    (
        "sim",
        "sim_msisdn_chk",
        r"msisdn IS NULL OR msisdn ~ '^\+[1-9][0-9]{7,14}$'",
        r"msisdn IS NULL OR octet_length(msisdn) BETWEEN 9 AND 16 AND msisdn ~ '^\+[1-9][0-9]*$'",
    ),
)

SQL = "\n".join(
    f"ALTER TABLE {table} DROP CONSTRAINT {name}, ADD CONSTRAINT {name} CHECK ({now});"
    for table, name, _, now in CHECKS
)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
