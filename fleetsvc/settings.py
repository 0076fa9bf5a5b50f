"""Settings: one object read from the environment, checked once at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from importers import ProfileError, all_profiles

LogFormat = Literal["auto", "json", "console"]
LOG_LEVELS = ("debug", "info", "warning", "error")


class SettingsError(Exception):
    """A setting has a value the service cannot run with; the message is one line."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None
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
    public_url: str | None = None
    session_idle_minutes: int = 30

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


def _database_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("DATABASE_URL", "").strip()
    if not raw:
        return None
    if not raw.startswith(("postgres://", "postgresql://")):
        # Never echo the value: it usually carries a password.
        raise SettingsError("DATABASE_URL must start with postgresql:// (or postgres://)")
    try:
        _ = urlsplit(raw).port  # reading the port checks it (a number from 0 to 65535)
    except ValueError as exc:
        # urllib names the fault (a bad port, a bracket left open), never the password.
        raise SettingsError(f"DATABASE_URL is not a valid URL: {exc}") from None
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
    profiles_dir = _profiles_dir(env)
    upload_mb = _int(env, "FLEETSVC_MAX_UPLOAD_MB", 50, 1, 2048)
    return Settings(
        database_url=database_url,
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
        public_url=_public_url(env),
        session_idle_minutes=_int(env, "FLEETSVC_SESSION_IDLE_MINUTES", 30, 1, 24 * 60),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
