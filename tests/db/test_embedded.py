"""The embedded server is sized for imports: a new one (var/ of a fresh clone) starts with
fleetsvc's settings, not PostgreSQL's defaults, and an ALTER SYSTEM of the user's still wins.
Its log keeps no value of a failed statement (it is not pseudonymised with the register)."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from db import embedded

pytestmark = pytest.mark.asyncio


def _stop(pgdata: Path) -> None:
    """Stop the server as the last process using it would, on exit."""
    embedded._servers.pop(pgdata).cleanup()


async def _show(url: str, *names: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [await conn.fetchval(f"SHOW {name}") for name in names]
    finally:
        await conn.close()


async def test_a_new_server_runs_with_fleetsvc_settings_and_the_users_own_win(
    tmp_path: Path,
) -> None:
    pgdata = (tmp_path / "pg").resolve()
    wanted = embedded.server_settings()
    url = embedded.start_server(tmp_path)
    try:
        shown = await _show(url, "shared_buffers", "wal_buffers", "max_wal_size")
        # SHOW prints 1024MB as 1GB.
        assert [embedded_size(v) for v in shown] == [
            embedded_size(wanted["shared_buffers"]),
            embedded_size(wanted["wal_buffers"]),
            embedded_size(wanted["max_wal_size"]),
        ]
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("ALTER SYSTEM SET max_wal_size = '2GB'")
            # A unique violation's detail names the key: the client is told, the log is not.
            await conn.execute("CREATE TABLE person_upn (upn text UNIQUE)")
            upn = "jane.smith.logged@force.example"
            await conn.execute("INSERT INTO person_upn VALUES ($1)", upn)
            with pytest.raises(asyncpg.UniqueViolationError) as failed:
                await conn.execute("INSERT INTO person_upn VALUES ($1)", upn)
            assert upn in (failed.value.detail or "")
        finally:
            await conn.close()
        log = (pgdata / "log").read_text(encoding="utf-8", errors="replace")
        assert "person_upn_upn_key" in log  # the error was logged, without the value
        assert upn not in log
    finally:
        _stop(pgdata)
    # Started again (an existing var/): fleetsvc.conf is rewritten, the user's setting kept.
    url = embedded.start_server(tmp_path)
    try:
        assert await _show(url, "max_wal_size") == ["2GB"]
    finally:
        _stop(pgdata)


def embedded_size(value: str) -> int:
    """A size setting in MB ("1GB", "512MB")."""
    number, unit = int(value[:-2]), value[-2:]
    return number * {"MB": 1, "GB": 1024}[unit]
