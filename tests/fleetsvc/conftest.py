"""Fixtures of the fleetsvc tests: a database of a test's own, for tests that break it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from db.embedded import drop_database
from tests.fleetsvc.audit_db import copy_of, migrated_template


@pytest.fixture(scope="module")
async def migrated_db_template(database_url: str) -> AsyncIterator[str]:
    name = await migrated_template(database_url)
    yield name
    await drop_database(database_url, name)


@pytest.fixture
async def own_db(database_url: str, migrated_db_template: str) -> AsyncIterator[str]:
    """The URL of a freshly migrated database that only this test uses (dropped after)."""
    async with copy_of(database_url, migrated_db_template) as url:
        yield url
