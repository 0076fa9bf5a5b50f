"""Settings are read once from the environment; a bad one is one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from db.embedded import with_database
from fleetsvc.settings import SettingsError, load_settings


def test_defaults() -> None:
    s = load_settings({})
    assert s.database_url is None and s.uses_embedded_database
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.max_upload_bytes == 50 * 1024 * 1024
    assert s.mdm_capacity == 40_000


def test_values_are_read() -> None:
    s = load_settings(
        {
            "FLEETSVC_PORT": "9001",
            "DATABASE_URL": "postgresql://u:p@db/x",
            "FLEETSVC_LOG_FORMAT": "JSON",
            "FLEETSVC_MAX_UPLOAD_MB": "10",
        }
    )
    assert s.port == 9001 and s.log_format == "json"
    assert s.database_url == "postgresql://u:p@db/x"
    assert s.max_upload_bytes == 10 * 1024 * 1024


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"FLEETSVC_PORT": "eighty"}, "FLEETSVC_PORT must be a whole number from 1 to 65535"),
        ({"FLEETSVC_PORT": "70000"}, "FLEETSVC_PORT"),
        ({"FLEETSVC_LOG_LEVEL": "loud"}, "FLEETSVC_LOG_LEVEL must be one of"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL must start with postgresql://"),
        ({"DATABASE_URL": "postgresql://u:p@db:abc/x"}, "DATABASE_URL is not a valid URL"),
        ({"DATABASE_URL": "postgresql://u:p@db:99999/x"}, "DATABASE_URL is not a valid URL"),
        ({"DATABASE_URL": "postgresql://u:p@[::1/x"}, "DATABASE_URL is not a valid URL"),
        (
            {"DATABASE_URL": "postgresql://db/x", "FLEETSVC_MIGRATION_DATABASE_URL": "mysql://x"},
            "FLEETSVC_MIGRATION_DATABASE_URL must start with postgresql://",
        ),
        (
            {"FLEETSVC_MIGRATION_DATABASE_URL": "postgresql://owner@db/x"},
            "FLEETSVC_MIGRATION_DATABASE_URL is set but DATABASE_URL is not",
        ),
        (
            {"FLEETSVC_DB_POOL_TIMEOUT_SECONDS": "0"},
            "FLEETSVC_DB_POOL_TIMEOUT_SECONDS must be a number from 0.1 to 300",
        ),
        ({"FLEETSVC_PUBLIC_URL": "fleet.force.example"}, "FLEETSVC_PUBLIC_URL must be an http"),
        ({"FLEETSVC_SESSION_IDLE_MINUTES": "0"}, "FLEETSVC_SESSION_IDLE_MINUTES must be a whole"),
        (
            {"FLEETSVC_DEFAULT_LOCATION": "central stores"},
            "FLEETSVC_DEFAULT_LOCATION must be a location's code",
        ),
    ],
)
def test_bad_values_are_named(env: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle.split(" must")[0]) as info:
        load_settings(env)
    assert needle in str(info.value)


def test_two_database_urls_and_the_pool_timeout_are_read() -> None:
    s = load_settings(
        {
            "DATABASE_URL": "postgresql://service:p@db/x",
            "FLEETSVC_MIGRATION_DATABASE_URL": "postgresql://owner:q@db/x",
            "FLEETSVC_DB_POOL_TIMEOUT_SECONDS": "2.5",
        }
    )
    assert s.database_url == "postgresql://service:p@db/x"
    assert s.migration_database_url == "postgresql://owner:q@db/x"
    assert s.db_pool_timeout_seconds == 2.5
    assert load_settings({}).db_pool_timeout_seconds == 10.0


def test_session_settings() -> None:
    s = load_settings({})
    assert s.session_idle_minutes == 30 and s.public_url is None and not s.secure_cookies
    s = load_settings(
        {
            "FLEETSVC_PUBLIC_URL": "https://fleet.force.example/",
            "FLEETSVC_SESSION_IDLE_MINUTES": "15",
        }
    )
    assert s.public_url == "https://fleet.force.example" and s.secure_cookies
    assert s.session_idle_minutes == 15
    assert not load_settings({"FLEETSVC_PUBLIC_URL": "http://10.0.0.5:8000"}).secure_cookies


def test_the_default_location_is_a_code() -> None:
    assert load_settings({}).default_location == "STORES"
    assert load_settings({"FLEETSVC_DEFAULT_LOCATION": " hq-1 "}).default_location == "HQ-1"


def test_database_url_password_never_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"DATABASE_URL": "mysql://user:s3cret@host/db"})
    assert "s3cret" not in str(info.value)
    with pytest.raises(SettingsError) as info:
        load_settings({"DATABASE_URL": "postgresql://user:s3cret@host:port/db"})
    assert "s3cret" not in str(info.value)


def test_cli_reports_bad_setting_in_one_line() -> None:
    exe = Path(sys.executable).parent / "fleetsvc"
    env = {**os.environ, "FLEETSVC_PORT": "not-a-port"}
    result = subprocess.run(
        [str(exe), "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "fleetsvc: configuration error: FLEETSVC_PORT must be a whole number "
        "from 1 to 65535 (got 'not-a-port')"
    ]
    assert "Traceback" not in result.stderr


def test_container_requires_database_url() -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL is required here"):
        load_settings({"FLEETSVC_REQUIRE_DATABASE_URL": "1"})
    s = load_settings({"FLEETSVC_REQUIRE_DATABASE_URL": "1", "DATABASE_URL": "postgresql://db/x"})
    assert s.database_url == "postgresql://db/x"


def _with_user(url: str, user: str, password: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{user}:{password}@{rest.split('@', 1)[-1]}"


@pytest.mark.parametrize("command", [["serve"], ["db", "migrate"], ["tokens", "list"]])
def test_cli_reports_an_unusable_database_in_one_line(
    database_url: str, command: list[str]
) -> None:
    """The real server refusing us (no such database, no such user, nothing listening) is
    one line naming why, for the server and every command; never a traceback or a password."""
    exe = Path(sys.executable).parent / "fleetsvc"
    no_database = with_database(database_url, "fleetsvc_no_such_database")
    cases = {
        no_database: 'database "fleetsvc_no_such_database" does not exist',
        _with_user(database_url, "no_such_user", "s3cret-pw"): "no_such_user",
        "postgresql://u:s3cret-pw@127.0.0.1:1/db": "Connect call failed",
    }
    for url, reason in cases.items():
        env = {**os.environ, "DATABASE_URL": url, "FLEETSVC_PORT": "1"}
        result = subprocess.run(
            [str(exe), *command], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("fleetsvc: cannot reach the database: "), lines
        assert reason in lines[0], lines
        assert "s3cret-pw" not in result.stderr + result.stdout


PROFILE = """
name = "o2-despatch"
description = "O2 despatch report"
kind = "delivery"
formats = ["csv"]

[[fields]]
name = "imei"
aliases = ["Handset IMEI"]
parser = "imei"
required_column = true
required_value = true
"""


def test_profiles_dir_is_checked_at_start(tmp_path: Path) -> None:
    good = tmp_path / "profiles"
    good.mkdir()
    (good / "o2.toml").write_text(PROFILE)
    assert load_settings({"FLEETSVC_PROFILES_DIR": str(good)}).profiles_dir == good.resolve()

    with pytest.raises(SettingsError, match="FLEETSVC_PROFILES_DIR must be a folder") as info:
        load_settings({"FLEETSVC_PROFILES_DIR": str(tmp_path / "missing")})
    assert "missing" in str(info.value)

    (good / "broken.toml").write_text(PROFILE.replace('parser = "imei"', 'parser = "imie"'))
    with pytest.raises(SettingsError) as info:
        load_settings({"FLEETSVC_PROFILES_DIR": str(good)})
    message = str(info.value)
    assert message.startswith("FLEETSVC_PROFILES_DIR: ") and "broken.toml" in message
    assert "unknown parser 'imie'" in message


def test_cli_reports_a_broken_profile_as_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "o2.toml").write_text("name = 'o2\n")
    sample = tmp_path / "despatch.csv"
    sample.write_text("Handset IMEI\n352099001761481\n")
    exe = Path(sys.executable).parent / "fleetsvc"
    env = {**os.environ, "FLEETSVC_PROFILES_DIR": str(tmp_path)}
    result = subprocess.run(
        [str(exe), "import", str(sample), "--profile", "o2-despatch"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("fleetsvc: configuration error: FLEETSVC_PROFILES_DIR: ")
    assert "o2.toml: not valid TOML" in line


def test_job_and_notice_defaults() -> None:
    s = load_settings({})
    assert (s.jobs.workers, s.jobs.lease_seconds, s.jobs.timezone) == (1, 30, "Europe/London")
    assert [(x.kind, x.cron) for x in s.jobs.schedules] == [
        ("imports.expire_previews", "30 2 * * *"),
        ("notice.send", "0 7 * * *"),
        ("people.pseudonymise", "15 3 * * *"),
    ]  # the MDM pull is off until FLEETSVC_MDM_PULL_CRON is set
    assert not s.notices.has_destination
    assert s.leaver_retention_days == 2190


def test_notice_destinations_are_read() -> None:
    s = load_settings(
        {
            "FLEETSVC_NOTICE_WEBHOOK_URL": "https://hooks.force.example/fleet",
            "FLEETSVC_NOTICE_WEBHOOK_SECRET": "0123456789abcdef",
            "FLEETSVC_NOTICE_EMAIL_TO": "dp@force.example, stores@force.example",
            "FLEETSVC_NOTICE_EMAIL_FROM": "fleetsvc@force.example",
            "FLEETSVC_SMTP_URL": "smtp://relay%40force:p%40ss@mail.force.example:587?starttls=true",
        }
    )
    n = s.notices
    assert n.email_to == ("dp@force.example", "stores@force.example")
    assert n.smtp is not None and (n.smtp.host, n.smtp.port, n.smtp.tls) == (
        "mail.force.example",
        587,
        "starttls",
    )
    assert (n.smtp.user, n.smtp.password) == ("relay@force", "p@ss")
    assert "p@ss" not in repr(s) and "0123456789abcdef" not in repr(s)


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"FLEETSVC_WORKERS": "-1"}, "FLEETSVC_WORKERS must be a whole number from 0 to 64"),
        ({"FLEETSVC_JOB_LEASE_SECONDS": "1"}, "FLEETSVC_JOB_LEASE_SECONDS must be"),
        ({"FLEETSVC_CRON_TIMEZONE": "Mars/Olympus"}, "FLEETSVC_CRON_TIMEZONE must be a time zone"),
        ({"FLEETSVC_JOB_PLUGINS": "tests.x; rm"}, "FLEETSVC_JOB_PLUGINS must be Python module"),
        (
            {"FLEETSVC_NOTICE_WEBHOOK_URL": "http://hooks.force.example/x"},
            "FLEETSVC_NOTICE_WEBHOOK_URL must be an https:// URL",
        ),
        (
            {"FLEETSVC_NOTICE_WEBHOOK_URL": "https://hooks.force.example/x"},
            "FLEETSVC_NOTICE_WEBHOOK_SECRET must be set",
        ),
        ({"FLEETSVC_NOTICE_EMAIL_TO": "dp@force.example"}, "set FLEETSVC_SMTP_URL too"),
        (
            {"FLEETSVC_NOTICE_EMAIL_TO": "dp@force.example", "FLEETSVC_SMTP_URL": "smtp://m"},
            "set FLEETSVC_NOTICE_EMAIL_FROM",
        ),
        (
            {"FLEETSVC_NOTICE_EMAIL_TO": "dp@force.example\r\nBcc: x@y"},
            "FLEETSVC_NOTICE_EMAIL_TO must be e-mail addresses",
        ),
        ({"FLEETSVC_SMTP_URL": "http://u:hunter2@mail"}, "FLEETSVC_SMTP_URL must be smtp://"),
    ],
)
def test_bad_job_and_notice_values_are_named(env: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    assert needle in str(info.value)
    assert "hunter2" not in str(info.value)
