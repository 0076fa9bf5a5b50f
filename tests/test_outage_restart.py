"""A real PostgreSQL restarted under load: the service answers 503 (with Retry-After) and
never 500 meanwhile, and is ready again with no restart of its own.

Its own embedded server in its own data folder (never the suite's), the real service in a
subprocess, several clients reading and writing while ``pg_ctl restart -m fast`` runs.
The measurement is bench/outage.py's, which prints the same figures.
"""

from __future__ import annotations

import os

from bench.outage import measure
from tests.conftest import ROOT


async def test_postgresql_restarted_under_load_is_503_never_500() -> None:
    figures = await measure(
        ROOT / "var" / "test" / f"outage-{os.getpid()}", clients=4, seconds=3.0, scale=0.01
    )
    print("\n".join(f"{row['figure']}: {row['value']}" for row in figures.rows()))
    assert figures.transport_errors == 0  # every request had an HTTP answer
    assert figures.statuses[500] == 0
    assert set(figures.statuses) <= {200, 201, 503}, figures.statuses
    assert figures.statuses[503] > 0  # the outage was seen (else this proves nothing)
    assert figures.bad_503s == 0  # each one problem JSON with Retry-After
    assert figures.ready_after_seconds is not None
    assert figures.ok_by_phase["after"] > 0  # and it serves again, with the same process
    assert figures.log_tracebacks == 0
    assert figures.stopped  # no connection left held: SIGTERM ends it
    assert sum(figures.unavailable_logged.values()) == figures.statuses[503]
