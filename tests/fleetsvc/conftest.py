"""Fixtures of the fleetsvc tests: a database of a test's own, for tests that break it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from db.embedded import drop_database
from tests.conftest import Databases
from tests.fleetsvc.audit_db import copy_of, migrated_template


@pytest.fixture(scope="module")
async def migrated_db_template(databases: Databases) -> AsyncIterator[str]:
    # As the test server's superuser: these tests break the chain as its owner would.
    name = await migrated_template(databases.admin)
    yield name
    await drop_database(databases.admin, name)


@pytest.fixture
async def own_db(databases: Databases, migrated_db_template: str) -> AsyncIterator[str]:
    """The superuser URL of a freshly migrated database only this test uses (dropped after)."""
    async with copy_of(databases.admin, migrated_db_template) as url:
        yield url
