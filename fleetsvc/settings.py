"""Settings: one object read from the environment, checked once at start."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from importers import ProfileError, all_profiles

LogFormat = Literal["auto", "json", "console"]
LOG_LEVELS = ("debug", "info", "warning", "error")


class SettingsError(Exception):
    """A setting has a value the service cannot run with; the message is one line."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A recurring job: a kind queued at each time its cron expression names."""

    kind: str
    cron: str
    variable: str  # the setting it came from, for messages


@dataclass(frozen=True, slots=True)
class JobSettings:
    workers: int = 1
    lease_seconds: int = 30
    stop_seconds: int = 20
    plugins: tuple[str, ...] = ()
    timezone: str = "Europe/London"
    schedules: tuple[Schedule, ...] = ()


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    tls: Literal["none", "starttls", "ssl"] = "none"
    user: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class NoticeSettings:
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    email_to: tuple[str, ...] = ()
    email_from: str | None = None
    smtp: SmtpSettings | None = None

    @property
    def has_destination(self) -> bool:
        return self.webhook_url is not None or bool(self.email_to)


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None
    migration_database_url: str | None
    data_dir: Path
    host: str
    port: int
    log_format: LogFormat
    log_level: str
    max_upload_bytes: int
    max_body_bytes: int
    db_pool_size: int
    token_cache_seconds: float
    mdm_capacity: int
    mdm_stale_days: int
    profiles_dir: Path | None
    preview_days: int = 14
    jobs: JobSettings = JobSettings()
    notices: NoticeSettings = NoticeSettings()
    db_pool_timeout_seconds: float = 10.0
    public_url: str | None = None
    session_idle_minutes: int = 30
    default_location: str = "STORES"
    recovery_due_days: int = 14  # a leaver's recovery case is overdue after this many days
    leaver_retention_days: int = 2190
    # How long an upload or commit waits for its import's job before answering 202.
    import_wait_seconds: float = 20.0

    @property
    def secure_cookies(self) -> bool:
        """Session cookies are sent over HTTPS only when the service is reached by HTTPS."""
        return self.public_url is not None and self.public_url.startswith("https://")

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url is None


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(
            f"{name} must be a whole number from {lo} to {hi} (got {raw!r})"
        ) from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be a whole number from {lo} to {hi} (got {raw!r})")
    return value


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingsError(
            f"{name} must be a number from {lo:g} to {hi:g} (got {raw!r})"
        ) from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be a number from {lo:g} to {hi:g} (got {raw!r})")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)} (got {raw!r})")
    return value


def _database_url(env: Mapping[str, str], name: str = "DATABASE_URL") -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.startswith(("postgres://", "postgresql://")):
        # Never echo the value: it usually carries a password.
        raise SettingsError(f"{name} must start with postgresql:// (or postgres://)")
    try:
        _ = urlsplit(raw).port  # reading the port checks it (a number from 0 to 65535)
    except ValueError as exc:
        # urllib names the fault (a bad port, a bracket left open), never the password.
        raise SettingsError(f"{name} is not a valid URL: {exc}") from None
    return raw


def _public_url(env: Mapping[str, str]) -> str | None:
    """The address people reach the service at (behind a proxy, an https:// one)."""
    raw = env.get("FLEETSVC_PUBLIC_URL", "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(
            f"FLEETSVC_PUBLIC_URL must be an http:// or https:// address (got {raw!r})"
        )
    return raw.rstrip("/")


# A location's code (fleetsvc.locations says the same).
_LOCATION_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")


def _default_location(env: Mapping[str, str]) -> str:
    """Where devices go when a move or a delivery names no location. The migration that
    brought locations made it (``STORES``, "Central stores", unless this was set then)."""
    raw = env.get("FLEETSVC_DEFAULT_LOCATION", "")
    code = raw.strip().upper() or "STORES"
    if not _LOCATION_CODE.fullmatch(code):
        raise SettingsError(
            "FLEETSVC_DEFAULT_LOCATION must be a location's code: 1 to 32 letters, digits or"
            f" dashes (got {raw!r})"
        )
    return code


def _profiles_dir(env: Mapping[str, str]) -> Path | None:
    """The folder of extra import profiles: it must exist, and every profile in it load."""
    raw = env.get("FLEETSVC_PROFILES_DIR", "").strip()
    if not raw:
        return None
    path = Path(raw).resolve()
    if not path.is_dir():
        raise SettingsError(
            f"FLEETSVC_PROFILES_DIR must be a folder of import profiles (*.toml); "
            f"{raw!r} is not a folder"
        )
    try:
        all_profiles([path])
    except ProfileError as exc:
        raise SettingsError(f"FLEETSVC_PROFILES_DIR: {exc.message}") from None
    return path


# The schedules the service knows: (variable, job kind, default expression or None for off).
SCHEDULES: tuple[tuple[str, str, str | None], ...] = (
    ("FLEETSVC_MDM_PULL_CRON", "mdm.pull", None),
    ("FLEETSVC_PREVIEW_CLEANUP_CRON", "imports.expire_previews", "30 2 * * *"),
    ("FLEETSVC_NOTICE_CRON", "notice.send", "0 7 * * *"),
    ("FLEETSVC_PSEUDONYMISE_CRON", "people.pseudonymise", "15 3 * * *"),
)
_OFF = ("off", "none", "never")


def _cron(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    """A five-field cron expression (minute hour day month weekday), or None for off."""
    raw = env.get(name)
    value = default if raw is None or raw.strip() == "" else raw.strip()
    if value is None or value.lower() in _OFF:
        return None
    if len(value.split()) != 5:
        raise SettingsError(
            f"{name} must be a cron expression of five fields (minute hour day month weekday)"
            f" or 'off' (got {raw!r})"
        )
    try:
        next(CronSim(value, dt.datetime.now(dt.UTC)))
    except (CronSimError, StopIteration, ValueError) as exc:
        raise SettingsError(
            f"{name} is not a cron expression this service reads: {exc} (got {raw!r})"
        ) from None
    return value


def _job_settings(env: Mapping[str, str]) -> JobSettings:
    zone = env.get("FLEETSVC_CRON_TIMEZONE", "").strip() or "Europe/London"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"FLEETSVC_CRON_TIMEZONE must be a time zone name like Europe/London (got {zone!r})"
        ) from None
    plugins = tuple(p.strip() for p in env.get("FLEETSVC_JOB_PLUGINS", "").split(",") if p.strip())
    for module in plugins:
        if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", module):
            raise SettingsError(
                f"FLEETSVC_JOB_PLUGINS must be Python module names separated by commas"
                f" (got {module!r})"
            )
    schedules = []
    for variable, kind, default in SCHEDULES:
        cron = _cron(env, variable, default)
        if cron is not None:
            schedules.append(Schedule(kind=kind, cron=cron, variable=variable))
    return JobSettings(
        workers=_int(env, "FLEETSVC_WORKERS", 1, 0, 64),
        lease_seconds=_int(env, "FLEETSVC_JOB_LEASE_SECONDS", 30, 2, 3600),
        stop_seconds=_int(env, "FLEETSVC_JOB_STOP_SECONDS", 20, 0, 3600),
        plugins=plugins,
        timezone=zone,
        schedules=tuple(schedules),
    )


_LOOPBACK = ("127.0.0.1", "localhost", "::1")
# An address for a header: no spaces, commas or line breaks (which would add headers).
_ADDRESS = re.compile(r"[^@\s,<>]+@[^@\s,<>]+")


def _webhook(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    url = env.get("FLEETSVC_NOTICE_WEBHOOK_URL", "").strip() or None
    secret = env.get("FLEETSVC_NOTICE_WEBHOOK_SECRET", "").strip() or None
    if url is None:
        return None, None
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise SettingsError("FLEETSVC_NOTICE_WEBHOOK_URL is not a valid URL") from None
    # The notice names devices and employee numbers: plain http only to this machine.
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK
    )
    if not parts.hostname or not secure:
        raise SettingsError(
            "FLEETSVC_NOTICE_WEBHOOK_URL must be an https:// URL (http:// only for localhost)"
        )
    if secret is None or len(secret) < 16:
        raise SettingsError(
            "FLEETSVC_NOTICE_WEBHOOK_SECRET must be set (16 characters or more) to sign"
            " the notices sent to FLEETSVC_NOTICE_WEBHOOK_URL"
        )
    return url, secret


def _smtp(env: Mapping[str, str]) -> SmtpSettings | None:
    raw = env.get("FLEETSVC_SMTP_URL", "").strip()
    if not raw:
        return None
    bad = SettingsError(
        "FLEETSVC_SMTP_URL must be smtp://[user:password@]host[:port][?starttls=true]"
        " or smtps://... (its value is not shown: it may hold a password)"
    )
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise bad from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise bad
    query = parse_qs(parts.query)
    starttls = query.get("starttls", ["false"])[-1].lower() in ("1", "true", "yes")
    tls: Literal["none", "starttls", "ssl"] = (
        "ssl" if parts.scheme == "smtps" else "starttls" if starttls else "none"
    )
    return SmtpSettings(
        host=parts.hostname,
        port=port or (465 if tls == "ssl" else 25),
        tls=tls,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _notice_settings(env: Mapping[str, str]) -> NoticeSettings:
    url, secret = _webhook(env)
    to = tuple(a.strip() for a in env.get("FLEETSVC_NOTICE_EMAIL_TO", "").split(",") if a.strip())
    sender = env.get("FLEETSVC_NOTICE_EMAIL_FROM", "").strip() or None
    smtp = _smtp(env)
    for address in to:
        if not _ADDRESS.fullmatch(address):
            raise SettingsError(
                f"FLEETSVC_NOTICE_EMAIL_TO must be e-mail addresses separated by commas"
                f" (got {address!r})"
            )
    if to and smtp is None:
        raise SettingsError("FLEETSVC_NOTICE_EMAIL_TO is set: set FLEETSVC_SMTP_URL too")
    if to and (sender is None or not _ADDRESS.fullmatch(sender)):
        raise SettingsError(
            "FLEETSVC_NOTICE_EMAIL_TO is set: set FLEETSVC_NOTICE_EMAIL_FROM to the address"
            " notices come from"
        )
    return NoticeSettings(
        webhook_url=url, webhook_secret=secret, email_to=to, email_from=sender, smtp=smtp
    )


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and check every setting; raise SettingsError naming the first bad one."""
    env = os.environ if env is None else env
    database_url = _database_url(env)
    required = env.get("FLEETSVC_REQUIRE_DATABASE_URL", "").strip().lower() in ("1", "true")
    if database_url is None and required:
        raise SettingsError(
            "DATABASE_URL is required here (FLEETSVC_REQUIRE_DATABASE_URL is set; "
            "the container image has no embedded PostgreSQL)"
        )
    migration_database_url = _database_url(env, "FLEETSVC_MIGRATION_DATABASE_URL")
    if migration_database_url is not None and database_url is None:
        raise SettingsError(
            "FLEETSVC_MIGRATION_DATABASE_URL is set but DATABASE_URL is not: the embedded "
            "PostgreSQL makes both roles itself; with your own server, set both"
        )
    profiles_dir = _profiles_dir(env)
    upload_mb = _int(env, "FLEETSVC_MAX_UPLOAD_MB", 50, 1, 2048)
    return Settings(
        database_url=database_url,
        migration_database_url=migration_database_url,
        data_dir=Path(env.get("FLEETSVC_DATA_DIR", "").strip() or "var").resolve(),
        host=env.get("FLEETSVC_HOST", "").strip() or "127.0.0.1",
        port=_int(env, "FLEETSVC_PORT", 8000, 1, 65535),
        log_format=_choice(env, "FLEETSVC_LOG_FORMAT", "auto", ("auto", "json", "console")),  # type: ignore[arg-type]
        log_level=_choice(env, "FLEETSVC_LOG_LEVEL", "info", LOG_LEVELS),
        max_upload_bytes=upload_mb * 1024 * 1024,
        max_body_bytes=_int(env, "FLEETSVC_MAX_BODY_MB", 5, 1, 512) * 1024 * 1024,
        db_pool_size=_int(env, "FLEETSVC_DB_POOL_SIZE", 10, 1, 200),
        token_cache_seconds=_float(env, "FLEETSVC_TOKEN_CACHE_SECONDS", 5.0, 0.0, 300.0),
        mdm_capacity=_int(env, "FLEETSVC_MDM_CAPACITY", 40_000, 1, 10_000_000),
        mdm_stale_days=_int(env, "FLEETSVC_MDM_STALE_DAYS", 30, 1, 3650),
        profiles_dir=profiles_dir,
        preview_days=_int(env, "FLEETSVC_PREVIEW_DAYS", 14, 1, 365),
        jobs=_job_settings(env),
        notices=_notice_settings(env),
        db_pool_timeout_seconds=_float(env, "FLEETSVC_DB_POOL_TIMEOUT_SECONDS", 10.0, 0.1, 300.0),
        public_url=_public_url(env),
        session_idle_minutes=_int(env, "FLEETSVC_SESSION_IDLE_MINUTES", 30, 1, 24 * 60),
        default_location=_default_location(env),
        recovery_due_days=_int(env, "FLEETSVC_RECOVERY_DUE_DAYS", 14, 1, 3650),
        leaver_retention_days=_int(env, "FLEETSVC_LEAVER_RETENTION_DAYS", 2190, 1, 36500),
        import_wait_seconds=_float(env, "FLEETSVC_IMPORT_WAIT_SECONDS", 20.0, 0.0, 3600.0),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
