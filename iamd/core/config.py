"""Settings: command-line options, each also an IAMD_* environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from iamd.core.arn import PARTITIONS

DEFAULT_SERVICE_LINKED_PRINCIPALS = ("aws", "iamd.internal")
"""Who may have service-linked roles: ``aws`` is every service AWS accepts in
CreateServiceLinkedRole (iamd/services/iam/service_linked_roles.json); other entries are an
operator's own service principals."""


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
    console_session_seconds: int = 43200
    """How long a web console sign-in lasts (default 12 hours)."""
    webauthn_rp_id: str | None = None
    """WebAuthn relying party id; None: the request's host name (for localhost and tests)."""
    webauthn_origins: tuple[str, ...] = ()
    """Origins WebAuthn responses may come from; empty: the request's own origin."""
    webauthn_user_verification: str = "preferred"
    webauthn_attestation: str = "none"
    webauthn_trust_store: Path | None = None
    """Directory of PEM root certificates that ``direct`` attestation must chain to."""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    forwarded_allow_ips: str | None = None
    """Reverse proxies whose X-Forwarded-For/-Proto headers are trusted (comma-separated)."""
    access_log: bool = True
    """One line per request on the ``iamd.access`` logger (off: --no-access-log, IAMD_ACCESS_LOG=0)."""
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.partition not in PARTITIONS:
            raise ValueError(f"--partition must be one of {', '.join(PARTITIONS)}")
        if self.webauthn_user_verification not in ("required", "preferred", "discouraged"):
            raise ValueError("IAMD_WEBAUTHN_USER_VERIFICATION must be required, preferred or discouraged")
        if self.webauthn_attestation not in ("none", "direct"):
            raise ValueError("IAMD_WEBAUTHN_ATTESTATION must be none or direct")
        if self.console_session_seconds < 60 or self.console_session_seconds > 43200:
            raise ValueError("IAMD_CONSOLE_SESSION_SECONDS must be between 60 and 43200")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key go together")

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


def env_switch(name: str, default: bool) -> bool:
    """A boolean variable that may switch a default off; anything but the usual spellings is an error."""
    value = (env(name, "") or "").lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be 1 or 0 (or true/false, yes/no, on/off), not {value!r}")


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
        "console_session_seconds": int(env("IAMD_CONSOLE_SESSION_SECONDS", "43200") or 43200),
        "webauthn_rp_id": env("IAMD_WEBAUTHN_RP_ID"),
        "webauthn_origins": tuple(o.strip() for o in (env("IAMD_WEBAUTHN_ORIGINS") or "").split(",") if o.strip()),
        "webauthn_user_verification": env("IAMD_WEBAUTHN_USER_VERIFICATION", "preferred"),
        "webauthn_attestation": env("IAMD_WEBAUTHN_ATTESTATION", "none"),
        "webauthn_trust_store": Path(p) if (p := env("IAMD_WEBAUTHN_TRUST_STORE")) else None,
        "tls_cert": Path(p) if (p := env("IAMD_TLS_CERT")) else None,
        "tls_key": Path(p) if (p := env("IAMD_TLS_KEY")) else None,
        "forwarded_allow_ips": env("IAMD_FORWARDED_ALLOW_IPS"),
        "access_log": env_switch("IAMD_ACCESS_LOG", True),
    }
    if principals:
        values["service_linked_principals"] = tuple(p.strip() for p in principals.split(",") if p.strip())
    for key, value in overrides.items():
        if value is not None:
            values[key] = value
    return Settings(**values)  # type: ignore[arg-type]


def settings_to_env(s: Settings) -> dict[str, str]:
    """The IAMD_* variables from which ``settings_from_env`` rebuilds ``s``.

    ``iamd serve`` exports them before uvicorn starts: its app factory, in every worker process,
    reads its settings from the environment, so an option given as a flag reaches each worker.
    """

    def text(value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, Path):
            return str(value.resolve())
        if isinstance(value, tuple):
            return ",".join(value)
        return str(value)

    values = {
        "IAMD_DATA_DIR": s.data_dir,
        "IAMD_DATABASE_URL": s.database_url,
        "IAMD_HOST": s.host,
        "IAMD_PORT": s.port,
        "IAMD_WORKERS": s.workers,
        "IAMD_DEV": s.dev,
        "IAMD_PARTITION": s.partition,
        "IAMD_REGION": s.region,
        "IAMD_ACCOUNT_ID": s.bootstrap_account_id,
        "IAMD_ROOT_ACCESS_KEY_ID": s.bootstrap_root_access_key_id,
        "IAMD_ROOT_SECRET_ACCESS_KEY": s.bootstrap_root_secret_access_key,
        "IAMD_MASTER_KEY": s.master_key,
        "IAMD_MASTER_KEY_FILE": s.master_key_file,
        "IAMD_CACHE_REFRESH_SECONDS": repr(s.cache_refresh_seconds),
        "IAMD_SERVICE_LINKED_PRINCIPALS": s.service_linked_principals,
        "IAMD_LOG_LEVEL": s.log_level,
        "IAMD_ENCODED_AUTHORIZATION_MESSAGES": s.encoded_authorization_messages,
        "IAMD_CONSOLE_SESSION_SECONDS": s.console_session_seconds,
        "IAMD_WEBAUTHN_RP_ID": s.webauthn_rp_id,
        "IAMD_WEBAUTHN_ORIGINS": s.webauthn_origins or None,
        "IAMD_WEBAUTHN_USER_VERIFICATION": s.webauthn_user_verification,
        "IAMD_WEBAUTHN_ATTESTATION": s.webauthn_attestation,
        "IAMD_WEBAUTHN_TRUST_STORE": s.webauthn_trust_store,
        "IAMD_TLS_CERT": s.tls_cert,
        "IAMD_TLS_KEY": s.tls_key,
        "IAMD_FORWARDED_ALLOW_IPS": s.forwarded_allow_ips,
        "IAMD_ACCESS_LOG": s.access_log,
    }
    return {name: v for name, value in values.items() if (v := text(value)) is not None}
