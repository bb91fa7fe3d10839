"""The settings: one typed tree of sections, each option an IAMD_* variable (and maybe a flag).

Every option is declared once below, with its type, default, variable, flag and help
(``iamd.core.options``); from these declarations come the loader (:func:`load_settings`), the
export to uvicorn's worker processes (:func:`settings_to_env`), the command line's flags and
docs/configuration.md (``scripts/gen_configuration_doc.py``).  Nothing here reads the process's
environment: the command line hands it to :func:`load_settings` once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from iamd.core.arn import PARTITIONS
from iamd.core.options import Option, Section, SettingsError, build, option, options_of, value_at
from iamd.core.quotas import LEGACY_VARIABLE, QuotaSettings, parse_legacy

DEFAULT_SERVICE_LINKED_PRINCIPALS = ("aws", "iamd.internal")
"""Who may have service-linked roles: ``aws`` is every service AWS accepts in
CreateServiceLinkedRole (iamd/services/iam/service_linked_roles.json); other entries are an
operator's own service principals."""

LOG_LEVELS = ("debug", "info", "warning", "error")
STORE_PREPARED_VARIABLE = "IAMD_STORE_PREPARED"
"""Set to 1 by ``iamd serve`` for its workers: the store is migrated and seeded already."""


@dataclass(frozen=True, slots=True)
class ServerSettings(Section):
    """The HTTP server (`iamd serve`)."""

    host: str = option("127.0.0.1", env="IAMD_HOST", flag="--host", help="Listen address.")
    port: int = option(8080, env="IAMD_PORT", flag="--port", minimum=0, maximum=65535, help="Listen port.")
    workers: int = option(1, env="IAMD_WORKERS", flag="--workers", metavar="N", minimum=1, help="Worker processes.")
    dev: bool = option(
        False,
        env="IAMD_DEV",
        flag="--dev",
        help="Adds `POST /_iamd/reset` (wipes all state, re-creates the default account).",
    )
    tls_cert: Path | None = option(
        None,
        env="IAMD_TLS_CERT",
        flag="--tls-cert",
        metavar="FILE",
        help="Serve HTTPS with this PEM certificate chain (with --tls-key).",
    )
    tls_key: Path | None = option(
        None, env="IAMD_TLS_KEY", flag="--tls-key", metavar="FILE", help="The PEM private key of --tls-cert."
    )
    forwarded_allow_ips: str | None = option(
        None,
        env="IAMD_FORWARDED_ALLOW_IPS",
        flag="--forwarded-allow-ips",
        metavar="IPS",
        default_text="none",
        help="Reverse proxies whose X-Forwarded-For/-Proto headers are trusted (comma-separated).",
    )
    access_log: bool = option(
        True,
        env="IAMD_ACCESS_LOG",
        flag="--access-log",
        help="One line per request on the `iamd.access` logger (operations.md); it replaces uvicorn's own access log.",
    )

    def __post_init__(self) -> None:
        Section.__post_init__(self)
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError("--tls-cert and --tls-key go together (IAMD_TLS_CERT, IAMD_TLS_KEY)")


@dataclass(frozen=True, slots=True)
class StoreSettings(Section):
    """Where the state lives."""

    data_dir: Path | None = option(
        None,
        env="IAMD_DATA_DIR",
        flag="--data-dir",
        every_command=True,
        metavar="DIR",
        help="Data directory: the SQLite database (`iamd.db`), `master.key`, `root-credentials.json`.",
    )
    database_url: str | None = option(
        None,
        env="IAMD_DATABASE_URL",
        flag="--database-url",
        every_command=True,
        metavar="URL",
        default_text="SQLite in DIR",
        help="SQLAlchemy URL of the database, e.g. `postgresql+psycopg://user@host:5432/iamd`.",
    )
    cache_refresh_seconds: float = option(
        0.5,
        env="IAMD_CACHE_REFRESH_SECONDS",
        minimum=0,
        help="How often a node checks for changes made elsewhere; they reach it within twice this.",
    )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        if self.data_dir is None:
            raise SettingsError("either --data-dir or --database-url is required")
        return f"sqlite:///{(self.data_dir / 'iamd.db').resolve()}"


@dataclass(frozen=True, slots=True)
class IdentitySettings(Section):
    """The shape of ARNs, and the default account made on first start."""

    partition: str = option(
        "aws",
        env="IAMD_PARTITION",
        flag="--partition",
        choices=PARTITIONS,
        help="The partition of every ARN.",
    )
    region: str = option(
        "us-east-1",
        env="IAMD_REGION",
        flag="--region",
        help="Default region. Any region is accepted in signatures.",
    )
    bootstrap_account_id: str | None = option(
        None,
        env="IAMD_ACCOUNT_ID",
        default_text="random",
        help="12-digit id of the default account created on first start.",
    )
    bootstrap_root_access_key_id: str | None = option(
        None,
        env="IAMD_ROOT_ACCESS_KEY_ID",
        default_text="generated",
        help="The default account's root access key id; when it is generated, the key is written to "
        "`DIR/root-credentials.json` (0600).",
    )
    bootstrap_root_secret_access_key: str | None = option(
        None,
        env="IAMD_ROOT_SECRET_ACCESS_KEY",
        default_text="generated",
        help="The secret of that root access key.",
    )
    service_linked_principals: tuple[str, ...] = option(
        DEFAULT_SERVICE_LINKED_PRINCIPALS,
        env="IAMD_SERVICE_LINKED_PRINCIPALS",
        default_text="`aws,iamd.internal`",
        help="Comma-separated service principals that may have service-linked roles: `aws` stands for every "
        "service AWS accepts in CreateServiceLinkedRole (with AWS's role names and CustomSuffix rules, "
        "`iamd/services/iam/service_linked_roles.json`); other entries are your own services "
        "(`my-batch.amazonaws.com` gets `AWSServiceRoleForMyBatch`). Leave `aws` out to accept only the listed ones.",
    )


@dataclass(frozen=True, slots=True)
class SecretSettings(Section):
    """The master key that encrypts the secrets in the database ([operations.md](operations.md#the-master-key))."""

    master_key: str | None = option(
        None, env="IAMD_MASTER_KEY", help="Base64 of 32 bytes: the master key for secrets at rest."
    )
    master_key_file: Path | None = option(
        None,
        env="IAMD_MASTER_KEY_FILE",
        default_text="DIR/master.key",
        help="A file holding the master key. `DIR/master.key` is created only when the database is new; "
        "beside an existing database a missing one stops the start.",
    )


@dataclass(frozen=True, slots=True)
class SigV4Settings(Section):
    """Signature Version 4 verification."""

    max_skew_seconds: int = option(
        900,
        env="IAMD_SIGV4_MAX_SKEW_SECONDS",
        minimum=1,
        help="How far a request's signing time may be from the server's clock (AWS: 15 minutes).",
    )


@dataclass(frozen=True, slots=True)
class StsSettings(Section):
    """STS answers."""

    encoded_authorization_messages: bool = option(
        False,
        env="IAMD_ENCODED_AUTHORIZATION_MESSAGES",
        help="Attach an encoded authorization message to AccessDenied answers "
        "(decode it with `sts:DecodeAuthorizationMessage`).",
    )


@dataclass(frozen=True, slots=True)
class FederationSettings(Section):
    """Web identity and SAML federation: how iamd reaches identity providers and what it accepts."""

    jwks_ttl_seconds: float = option(
        3600.0,
        env="IAMD_JWKS_TTL_SECONDS",
        minimum=1,
        help="How long an OIDC provider's signing keys are used before they are fetched again.",
    )
    jwks_refresh_seconds: float = option(
        60.0,
        env="IAMD_JWKS_REFRESH_SECONDS",
        minimum=0,
        help="At most one refetch per provider in this time when a token names an unknown key id.",
    )
    ca_file: Path | None = option(
        None,
        env="IAMD_FEDERATION_CA_FILE",
        default_text="the system trust store",
        help="PEM bundle of the CAs trusted for OIDC providers' discovery and JWKS endpoints.",
    )
    allow_http_loopback: bool = option(
        False,
        env="IAMD_FEDERATION_ALLOW_HTTP_LOOPBACK",
        help="Accept `http://` OIDC providers on loopback addresses (development only; needs `--dev`).",
    )
    offline_jwks_dir: Path | None = option(
        None,
        env="IAMD_OFFLINE_JWKS_DIR",
        help="Directory of JWKS documents for air-gapped sites, one per provider: the provider URL "
        "without `https://`, percent-encoded (`/` as `%2F`), plus `.json`. Such providers are never fetched.",
    )
    saml_recipients: tuple[str, ...] = option(
        (),
        env="IAMD_SAML_RECIPIENTS",
        default_text="`https://signin.aws.amazon.com/saml` only",
        help="Comma-separated further SAML `Recipient` URLs accepted (iamd's own, e.g. `https://iamd.example/saml`).",
    )
    saml_audiences: tuple[str, ...] = option(
        (),
        env="IAMD_SAML_AUDIENCES",
        default_text="`https://signin.aws.amazon.com/saml`, `urn:amazon:webservices`",
        help="Comma-separated further SAML audiences accepted.",
    )
    saml_allow_sha1: bool = option(
        False, env="IAMD_SAML_ALLOW_SHA1", help="Accept SAML signatures over SHA-1 (old ADFS defaults)."
    )
    leeway_seconds: int = option(
        60,
        env="IAMD_FEDERATION_LEEWAY_SECONDS",
        minimum=0,
        maximum=600,
        help="Clock skew allowed on the times in web identity tokens and SAML assertions.",
    )


@dataclass(frozen=True, slots=True)
class MfaSettings(Section):
    """TOTP look-around and brute-force locks ([mfa.md](mfa.md))."""

    window: int = option(
        1, env="IAMD_MFA_WINDOW", minimum=0, help="Steps accepted either side of the expected one for a code."
    )
    resync_window: int = option(
        20, env="IAMD_MFA_RESYNC_WINDOW", minimum=1, help="Steps searched either side by ResyncMFADevice."
    )
    max_failures: int = option(
        5, env="IAMD_MFA_MAX_FAILURES", minimum=1, help="Wrong codes in a row before a device is locked."
    )
    lock_seconds: int = option(
        30,
        env="IAMD_MFA_LOCK_SECONDS",
        minimum=1,
        help="The first lock's length; each further lock in a row doubles it.",
    )
    max_lock_seconds: int = option(900, env="IAMD_MFA_MAX_LOCK_SECONDS", minimum=1, help="The longest lock.")
    issuer: str = option("iamd", env="IAMD_MFA_ISSUER", help="Issuer shown by authenticator apps.")

    def lock_for(self, locks: int) -> int:
        """Length of the ``locks``-th lock in a row (1-based)."""
        return int(min(self.max_lock_seconds, self.lock_seconds * 2 ** max(0, min(locks - 1, 30))))


@dataclass(frozen=True, slots=True)
class ThrottleSettings(Section):
    """Console sign-in throttling: past a free allowance, each failure locks for a doubling delay."""

    user_free: int = option(
        5,
        env="IAMD_CONSOLE_USER_FREE_ATTEMPTS",
        minimum=0,
        help="Failures a user (or a device's codes) may have before delays start.",
    )
    source_free: int = option(
        25,
        env="IAMD_CONSOLE_SOURCE_FREE_ATTEMPTS",
        minimum=0,
        help="Failures one source address may have, across users, before delays start.",
    )
    base_seconds: float = option(
        1.0, env="IAMD_CONSOLE_BASE_DELAY_SECONDS", minimum=0, help="The first delay; each further failure doubles it."
    )
    max_seconds: float = option(900.0, env="IAMD_CONSOLE_MAX_DELAY_SECONDS", minimum=0, help="The longest delay.")

    def delay(self, failures: int, free: int) -> float:
        if failures <= free:
            return 0.0
        return float(min(self.max_seconds, self.base_seconds * 2 ** min(failures - free - 1, 20)))


@dataclass(frozen=True, slots=True)
class ConsoleSettings(Section):
    """The web console and WebAuthn ([console.md](console.md))."""

    session_seconds: int = option(
        43200,
        env="IAMD_CONSOLE_SESSION_SECONDS",
        minimum=60,
        maximum=43200,
        help="How long a console sign-in lasts (12 hours at most).",
    )
    webauthn_rp_id: str | None = option(
        None,
        env="IAMD_WEBAUTHN_RP_ID",
        default_text="the request's host name",
        help="WebAuthn relying party id.",
    )
    webauthn_origins: tuple[str, ...] = option(
        (),
        env="IAMD_WEBAUTHN_ORIGINS",
        default_text="the request's origin",
        help="Comma-separated origins WebAuthn responses may come from.",
    )
    webauthn_user_verification: str = option(
        "preferred",
        env="IAMD_WEBAUTHN_USER_VERIFICATION",
        choices=("required", "preferred", "discouraged"),
        help="Whether authenticators must verify their user (PIN or biometric).",
    )
    webauthn_attestation: str = option(
        "none",
        env="IAMD_WEBAUTHN_ATTESTATION",
        choices=("none", "direct"),
        help="`direct` asks authenticators for attestation.",
    )
    webauthn_trust_store: Path | None = option(
        None,
        env="IAMD_WEBAUTHN_TRUST_STORE",
        help="Directory of PEM root certificates; with `direct` attestation, registrations must chain to one.",
    )
    throttle: ThrottleSettings = field(default_factory=ThrottleSettings)


@dataclass(frozen=True, slots=True)
class LoggingSettings(Section):
    """Logs go to standard error, with ISO 8601 UTC times."""

    log_level: str = option(
        "info",
        env="IAMD_LOG_LEVEL",
        flag="--log-level",
        every_command=True,
        choices=LOG_LEVELS,
        help="The log threshold.",
    )


@dataclass(frozen=True, slots=True)
class AuditSettings(Section):
    """The audit trail: CloudTrail-shaped records of every call and decision ([operations.md](operations.md))."""

    enabled: bool = option(True, env="IAMD_AUDIT", help="Record every API call, sign-in and decision in the database.")
    retention_days: int = option(
        90,
        env="IAMD_AUDIT_RETENTION_DAYS",
        minimum=0,
        help="Records older than this are pruned once a day (0 keeps everything).",
    )
    file_dir: Path | None = option(
        None,
        env="IAMD_AUDIT_FILE_DIR",
        metavar="DIR",
        default_text="off",
        help="Also write the records to rotated JSONL files here (e.g. `DIR/audit`); a copy of the chain's head.",
    )
    file_max_bytes: int = option(
        100 * 1024 * 1024, env="IAMD_AUDIT_FILE_MAX_BYTES", minimum=1, help="Rotate an audit file at this size."
    )
    file_max_age_seconds: float = option(
        86400.0, env="IAMD_AUDIT_FILE_MAX_AGE_SECONDS", minimum=1, help="Rotate an audit file at this age."
    )
    flush_interval_seconds: float = option(
        0.25,
        env="IAMD_AUDIT_FLUSH_INTERVAL_SECONDS",
        minimum=0.01,
        help="How often queued records are written (one transaction per batch).",
    )


@dataclass(frozen=True, slots=True)
class MetricsSettings(Section):
    """Prometheus metrics on `GET /metrics` ([operations.md](operations.md))."""

    enabled: bool = option(
        True, env="IAMD_METRICS", help="Serve `GET /metrics` (no authentication: bind or firewall it)."
    )


@dataclass(frozen=True, slots=True)
class ForwardAuthSettings(Section):
    """Forward-auth for reverse proxies ([forward-auth.md](forward-auth.md))."""

    rules_file: Path | None = option(
        None,
        env="IAMD_FORWARD_AUTH_RULES",
        metavar="FILE",
        default_text="off",
        help="The rules file (TOML) mapping requests to actions and resources; serves `/v1/forward-auth`.",
    )
    envoy_prefix: str = option(
        "/v1/forward-auth/envoy",
        env="IAMD_FORWARD_AUTH_ENVOY_PREFIX",
        help="The path under which Envoy's `ext_authz` (`path_prefix`) sends the original path.",
    )


@dataclass(frozen=True, slots=True)
class Settings(Section):
    server: ServerSettings = field(default_factory=ServerSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    secrets: SecretSettings = field(default_factory=SecretSettings)
    sigv4: SigV4Settings = field(default_factory=SigV4Settings)
    sts: StsSettings = field(default_factory=StsSettings)
    federation: FederationSettings = field(default_factory=FederationSettings)
    mfa: MfaSettings = field(default_factory=MfaSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    forward_auth: ForwardAuthSettings = field(default_factory=ForwardAuthSettings)


OPTIONS: tuple[Option, ...] = options_of(Settings)
"""Every option, in declaration order."""
BY_PATH: Mapping[str, Option] = {o.path: o for o in OPTIONS}


def load_settings(environ: Mapping[str, str], overrides: Mapping[str, object] | None = None) -> Settings:
    """The settings from the IAMD_* variables of ``environ``; ``overrides`` (dotted path -> value, e.g.
    from flags) win where they are not None.  An empty variable counts as unset.  A bad value raises
    SettingsError naming the variable or flag that gave it."""
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    legacy = environ.get(LEGACY_VARIABLE, "").strip()
    if legacy:
        for name, number in parse_legacy(legacy).items():
            values[f"quotas.{name}"] = number
            sources[f"quotas.{name}"] = LEGACY_VARIABLE
    for opt in OPTIONS:
        text = environ.get(opt.spec.env, "").strip()
        if text:
            values[opt.path] = opt.parse(text, opt.spec.env)
            sources[opt.path] = opt.spec.env
    for path, value in (overrides or {}).items():
        given = BY_PATH.get(path)
        if given is None:
            raise SettingsError(f"no setting called {path!r}")
        if value is not None:
            values[path] = value
            sources[path] = given.spec.flag or path
    for path, value in values.items():
        complaint = BY_PATH[path].complaint(value)
        if complaint is not None:
            raise SettingsError(f"{sources[path]} {complaint}")
    return build(Settings, values)


def settings_to_env(settings: Settings) -> dict[str, str]:
    """The IAMD_* variables from which :func:`load_settings` rebuilds ``settings``.

    ``iamd serve`` exports them before uvicorn starts: its app factory, in every worker process,
    reads its settings from the environment, so an option given as a flag reaches each worker.
    """
    found = {opt.spec.env: opt.text(value_at(settings, opt.path)) for opt in OPTIONS}
    return {name: text for name, text in found.items() if text is not None}
