"""A job setting the service cannot run with stops it at start, in one line naming the
variable; test-only kinds exist only where a plugin setting names them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.fleetsvc.jobs.processes import FLEETSVC, ROOT


def _start(command: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FLEETSVC_MDM_")}
    return subprocess.run(
        [FLEETSVC, command],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"FLEETSVC_NOTICE_CRON": "61 7 * * *"},
            "FLEETSVC_NOTICE_CRON is not a cron expression this service reads: Bad minute"
            " (got '61 7 * * *')",
        ),
        (
            {"FLEETSVC_MDM_PULL_CRON": "daily"},
            "FLEETSVC_MDM_PULL_CRON must be a cron expression of five fields (minute hour day"
            " month weekday) or 'off' (got 'daily')",
        ),
        (
            {"FLEETSVC_MDM_PULL_CRON": "*/30 * * * *"},
            "FLEETSVC_MDM_PULL_CRON is set, but: set FLEETSVC_MDM_GRAPH_URL,"
            " FLEETSVC_MDM_TOKEN_URL, FLEETSVC_MDM_CLIENT_ID, FLEETSVC_MDM_CLIENT_SECRET to pull"
            " from the MDM",
        ),
        (
            {"FLEETSVC_JOB_PLUGINS": "no_such_module_here"},
            "FLEETSVC_JOB_PLUGINS: cannot import 'no_such_module_here'"
            " (No module named 'no_such_module_here')",
        ),
    ],
)
def test_a_bad_job_setting_stops_the_service_in_one_line(
    database_url: str, command: str, env: dict[str, str], line: str
) -> None:
    result = _start(command, DATABASE_URL=database_url, **env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [f"fleetsvc: configuration error: {line}"]


def test_test_kinds_exist_only_where_a_plugin_names_them() -> None:
    code = "from fleetsvc.jobs import kinds; print(' '.join(kinds.load_kinds()))"
    env = {k: v for k, v in os.environ.items() if k != "FLEETSVC_JOB_PLUGINS"}
    env["PYTHONPATH"] = str(ROOT)
    production = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert production.stdout.split() == [
        "import.commit",
        "imports.expire_previews",
        "mdm.pull",
        "notice.send",
        "people.pseudonymise",
    ]
