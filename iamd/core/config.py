"""Settings: command-line options, each also an IAMD_* environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from iamd.core.arn import PARTITIONS

DEFAULT_SERVICE_LINKED_PRINCIPALS = (
    "autoscaling.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
    "ecs.amazonaws.com",
    "rds.amazonaws.com",
    "lambda.amazonaws.com",
    "ec2.amazonaws.com",
    "iamd.internal",
)


@dataclass
class Settings:
    data_dir: Path | None = None
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    dev: bool = False
    partition: str = "aws"
    region: str = "us-east-1"
    bootstrap_account_id: str | None = None
    bootstrap_root_access_key_id: str | None = None
    bootstrap_root_secret_access_key: str | None = None
    master_key: str | None = None
    master_key_file: Path | None = None
    cache_refresh_seconds: float = 0.5
    """How often a node checks the shared generation counter; changes propagate within 2x this."""
    max_skew_seconds: int = 900
    service_linked_principals: tuple[str, ...] = DEFAULT_SERVICE_LINKED_PRINCIPALS
    log_level: str = "info"
    encoded_authorization_messages: bool = False
    """Attach an encoded authorization message to AccessDenied answers (sts:DecodeAuthorizationMessage)."""
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.partition not in PARTITIONS:
            raise ValueError(f"--partition must be one of {', '.join(PARTITIONS)}")

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        if self.data_dir is None:
            raise ValueError("either --data-dir or --database-url is required")
        return f"sqlite:///{(self.data_dir / 'iamd.db').resolve()}"


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str) -> bool:
    return (env(name, "") or "").lower() in ("1", "true", "yes", "on")


def settings_from_env(**overrides: object) -> Settings:
    """Settings from IAMD_* variables; explicit (non-None) overrides win."""
    data_dir = env("IAMD_DATA_DIR")
    principals = env("IAMD_SERVICE_LINKED_PRINCIPALS")
    values: dict[str, object] = {
        "data_dir": Path(data_dir) if data_dir else None,
        "database_url": env("IAMD_DATABASE_URL"),
        "host": env("IAMD_HOST", "127.0.0.1"),
        "port": int(env("IAMD_PORT", "8080") or 8080),
        "workers": int(env("IAMD_WORKERS", "1") or 1),
        "dev": env_bool("IAMD_DEV"),
        "partition": env("IAMD_PARTITION", "aws"),
        "region": env("IAMD_REGION", "us-east-1"),
        "bootstrap_account_id": env("IAMD_ACCOUNT_ID"),
        "bootstrap_root_access_key_id": env("IAMD_ROOT_ACCESS_KEY_ID"),
        "bootstrap_root_secret_access_key": env("IAMD_ROOT_SECRET_ACCESS_KEY"),
        "master_key": env("IAMD_MASTER_KEY"),
        "master_key_file": Path(p) if (p := env("IAMD_MASTER_KEY_FILE")) else None,
        "cache_refresh_seconds": float(env("IAMD_CACHE_REFRESH_SECONDS", "0.5") or 0.5),
        "log_level": env("IAMD_LOG_LEVEL", "info"),
        "encoded_authorization_messages": env_bool("IAMD_ENCODED_AUTHORIZATION_MESSAGES"),
    }
    if principals:
        values["service_linked_principals"] = tuple(p.strip() for p in principals.split(",") if p.strip())
    for key, value in overrides.items():
        if value is not None:
            values[key] = value
    return Settings(**values)  # type: ignore[arg-type]
