"""The settings tree: declarations, the loader (variables, flags, validation) and the trip to the workers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from iamd.core.config import (
    BY_PATH,
    DEFAULT_SERVICE_LINKED_PRINCIPALS,
    OPTIONS,
    ConsoleSettings,
    MfaSettings,
    ServerSettings,
    Settings,
    ThrottleSettings,
    load_settings,
    settings_to_env,
)
from iamd.core.options import Option, SettingsError, build, sections_of, value_at
from iamd.core.quotas import QuotaSettings


def changed_value(opt: Option, tmp_path: Path) -> object:
    """A value of ``opt`` that differs from its default and that the option accepts."""
    if opt.spec.choices:
        return next(c for c in opt.spec.choices if c != opt.default)
    if opt.kind is bool:
        return not opt.default
    if opt.kind is int:
        assert isinstance(opt.default, int)
        high = opt.spec.maximum
        return opt.default - 1 if high is not None and opt.default >= high else opt.default + 1
    if opt.kind is float:
        assert isinstance(opt.default, float)
        return opt.default + 0.25
    if opt.kind is Path:
        return tmp_path / opt.name
    if opt.kind is tuple:
        return (f"{opt.name}-a.example", f"{opt.name}-b.example")
    return f"{opt.name}-value"


def every_option_changed(tmp_path: Path) -> Settings:
    changed = build(Settings, {o.path: changed_value(o, tmp_path) for o in OPTIONS})
    default = Settings()
    same = [o.path for o in OPTIONS if value_at(changed, o.path) == value_at(default, o.path)]
    assert same == []
    return changed


# --- the trip to uvicorn's workers ---------------------------------------------------------------------


def test_every_option_reaches_the_workers(tmp_path: Path) -> None:
    settings = every_option_changed(tmp_path)
    exported = settings_to_env(settings)
    assert set(exported) == {o.spec.env for o in OPTIONS}  # every option travels, none is forgotten
    assert load_settings(exported) == settings


def test_defaults_survive_the_trip_too() -> None:
    assert load_settings(settings_to_env(Settings())) == Settings() == load_settings({})


def test_a_relative_path_travels_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({"IAMD_DATA_DIR": "data"})
    assert settings.store.data_dir == Path("data")
    assert settings_to_env(settings)["IAMD_DATA_DIR"] == str(tmp_path.resolve() / "data")


# --- declarations --------------------------------------------------------------------------------------


def test_each_option_has_its_own_variable_and_flag_and_says_what_it_does() -> None:
    variables = [o.spec.env for o in OPTIONS]
    flags = [o.spec.flag for o in OPTIONS if o.spec.flag]
    assert len(set(variables)) == len(variables) and all(v.startswith("IAMD_") for v in variables)
    assert len(set(flags)) == len(flags)
    assert len({o.name for o in OPTIONS if o.spec.flag}) == len(flags)  # flag dests do not collide
    assert all(o.spec.help.endswith(".") for o in OPTIONS)
    assert all(
        section.__doc__ and not section.__doc__.startswith(section.__name__) for _, section in sections_of(Settings)
    )


def test_each_quota_is_its_own_variable() -> None:
    quotas = [o for o in OPTIONS if o.path.startswith("quotas.")]
    assert {o.name for o in quotas} == {f.name for f in dataclasses.fields(QuotaSettings)}
    assert all(o.spec.env == f"IAMD_QUOTA_{o.name.upper()}" for o in quotas)


def test_the_sections() -> None:
    paths = [path for path, _ in sections_of(Settings)]
    assert paths == [
        "server",
        "store",
        "identity",
        "secrets",
        "sigv4",
        "sts",
        "federation",
        "mfa",
        "console",
        "console.throttle",
        "quotas",
        "logging",
        "audit",
        "metrics",
        "forward_auth",
    ]


def test_section_defaults() -> None:
    s = load_settings({})
    assert (s.server.host, s.server.port, s.server.workers, s.server.dev, s.server.access_log) == (
        "127.0.0.1",
        8080,
        1,
        False,
        True,
    )
    assert s.store.data_dir is None and s.store.cache_refresh_seconds == 0.5
    assert (s.identity.partition, s.identity.region) == ("aws", "us-east-1")
    assert s.identity.service_linked_principals == DEFAULT_SERVICE_LINKED_PRINCIPALS
    assert s.sigv4.max_skew_seconds == 900 and not s.sts.encoded_authorization_messages
    assert s.mfa == MfaSettings(window=1, resync_window=20, max_failures=5, lock_seconds=30, max_lock_seconds=900)
    assert s.mfa.issuer == "iamd"
    assert s.console.session_seconds == 43200 and s.console.webauthn_origins == ()
    assert s.console.throttle == ThrottleSettings(user_free=5, source_free=25, base_seconds=1.0, max_seconds=900.0)
    assert (s.quotas.users, s.quotas.roles, s.quotas.tags, s.quotas.mfa_devices_per_user) == (5000, 1000, 50, 8)
    assert s.logging.log_level == "info"


# --- reading variables ----------------------------------------------------------------------------------


def test_variables_of_every_type() -> None:
    s = load_settings(
        {
            "IAMD_PORT": "9443",
            "IAMD_CACHE_REFRESH_SECONDS": "0.25",
            "IAMD_DEV": "yes",
            "IAMD_DATA_DIR": "/var/lib/iamd",
            "IAMD_WEBAUTHN_ORIGINS": " https://a.example , ,https://b.example",
            "IAMD_MFA_ISSUER": "Example Corp",
            "IAMD_CONSOLE_BASE_DELAY_SECONDS": "30",
            "IAMD_MFA_MAX_FAILURES": "7",
            "IAMD_MFA_WINDOW": "2",
        }
    )
    assert s.server.port == 9443 and s.store.cache_refresh_seconds == 0.25 and s.server.dev is True
    assert s.store.data_dir == Path("/var/lib/iamd")
    assert s.console.webauthn_origins == ("https://a.example", "https://b.example")
    assert s.mfa.issuer == "Example Corp" and (s.mfa.max_failures, s.mfa.window) == (7, 2)
    assert s.console.throttle.base_seconds == 30.0


@pytest.mark.parametrize(("text", "expected"), [("1", True), ("TRUE", True), ("on", True), ("0", False), ("no", False)])
def test_switches(text: str, expected: bool) -> None:
    assert load_settings({"IAMD_ACCESS_LOG": text}).server.access_log is expected
    assert load_settings({"IAMD_ENCODED_AUTHORIZATION_MESSAGES": text}).sts.encoded_authorization_messages is expected


def test_an_empty_or_blank_variable_is_unset() -> None:
    s = load_settings({"IAMD_PORT": "", "IAMD_ACCESS_LOG": "  ", "IAMD_MFA_ISSUER": " ", "IAMD_DATA_DIR": ""})
    assert s == Settings()


def test_the_loader_reads_only_the_mapping_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAMD_PORT", "1234")
    monkeypatch.setenv("IAMD_QUOTAS", "users=3")
    assert load_settings({}) == Settings()


# --- errors name the variable or flag ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("IAMD_PORT", "http", "IAMD_PORT must be a whole number, not 'http'"),
        ("IAMD_PORT", "70000", "IAMD_PORT must be between 0 and 65535, not 70000"),
        ("IAMD_WORKERS", "0", "IAMD_WORKERS must be at least 1, not 0"),
        ("IAMD_CACHE_REFRESH_SECONDS", "soon", "IAMD_CACHE_REFRESH_SECONDS must be a number, not 'soon'"),
        ("IAMD_ACCESS_LOG", "maybe", "IAMD_ACCESS_LOG must be 1 or 0 (or true/false, yes/no, on/off), not 'maybe'"),
        ("IAMD_DEV", "2", "IAMD_DEV must be 1 or 0"),
        ("IAMD_PARTITION", "aws-eu", "IAMD_PARTITION must be aws, aws-cn or aws-us-gov, not 'aws-eu'"),
        ("IAMD_LOG_LEVEL", "verbose", "IAMD_LOG_LEVEL must be debug, info, warning or error, not 'verbose'"),
        ("IAMD_MFA_WINDOW", "-1", "IAMD_MFA_WINDOW must be at least 0, not -1"),
        ("IAMD_MFA_LOCK_SECONDS", "bad", "IAMD_MFA_LOCK_SECONDS must be a whole number, not 'bad'"),
        ("IAMD_CONSOLE_USER_FREE_ATTEMPTS", "-3", "IAMD_CONSOLE_USER_FREE_ATTEMPTS must be at least 0, not -3"),
        ("IAMD_CONSOLE_SESSION_SECONDS", "59", "IAMD_CONSOLE_SESSION_SECONDS must be between 60 and 43200, not 59"),
        ("IAMD_WEBAUTHN_ATTESTATION", "indirect", "IAMD_WEBAUTHN_ATTESTATION must be none or direct, not 'indirect'"),
        ("IAMD_QUOTA_USERS", "many", "IAMD_QUOTA_USERS must be a whole number, not 'many'"),
        ("IAMD_QUOTA_POLICY_VERSIONS", "0", "IAMD_QUOTA_POLICY_VERSIONS must be at least 1, not 0"),
    ],
)
def test_a_bad_variable_is_refused_by_name(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({variable: value})
    assert str(info.value).startswith(message)


def test_a_bad_flag_value_is_refused_by_the_flag() -> None:
    with pytest.raises(SettingsError, match=r"^--port must be between 0 and 65535, not 70000$"):
        load_settings({}, {"server.port": 70000})
    with pytest.raises(SettingsError, match=r"^--partition must be aws, aws-cn or aws-us-gov"):
        load_settings({}, {"identity.partition": "mars"})


def test_tls_needs_both_files() -> None:
    with pytest.raises(SettingsError, match="--tls-cert and --tls-key go together"):
        load_settings({"IAMD_TLS_CERT": "cert.pem"})
    s = load_settings({"IAMD_TLS_KEY": "key.pem"}, {"server.tls_cert": Path("cert.pem")})
    assert (s.server.tls_cert, s.server.tls_key) == (Path("cert.pem"), Path("key.pem"))


def test_sections_made_in_code_are_checked_too() -> None:
    with pytest.raises(SettingsError, match="IAMD_CONSOLE_SESSION_SECONDS must be between 60 and 43200"):
        ConsoleSettings(session_seconds=43201)
    with pytest.raises(SettingsError, match=r"IAMD_PORT \(--port\) must be between 0 and 65535"):
        ServerSettings(port=-1)


# --- flags ----------------------------------------------------------------------------------------------


def test_flags_win_over_variables_and_none_means_not_given() -> None:
    env = {"IAMD_PORT": "9000", "IAMD_HOST": "0.0.0.0", "IAMD_ACCESS_LOG": "1"}
    s = load_settings(env, {"server.port": 9001, "server.host": None, "server.access_log": False})
    assert (s.server.port, s.server.host, s.server.access_log) == (9001, "0.0.0.0", False)


def test_an_unknown_override_is_an_error() -> None:
    with pytest.raises(SettingsError, match=r"no setting called 'server\.colour'"):
        load_settings({}, {"server.colour": "blue"})
    assert "server.port" in BY_PATH


# --- the older IAMD_QUOTAS ------------------------------------------------------------------------------


def test_the_older_quota_variable_still_works_and_a_quota_variable_wins() -> None:
    s = load_settings({"IAMD_QUOTAS": "users=100000, roles=5000"})
    assert (s.quotas.users, s.quotas.roles, s.quotas.groups) == (100000, 5000, 300)
    s = load_settings({"IAMD_QUOTAS": "users=100000,roles=5000", "IAMD_QUOTA_ROLES": "7"})
    assert (s.quotas.users, s.quotas.roles) == (100000, 7)
    assert s.quotas.limit("roles") == 7


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("user=10", "IAMD_QUOTAS: no quota called 'user'"),
        ("users=ten", "IAMD_QUOTAS: 'users=ten' is not name=number"),
        ("users", "IAMD_QUOTAS: 'users' is not name=number"),
        ("policy_versions=0", "IAMD_QUOTAS must be at least 1, not 0"),
    ],
)
def test_a_bad_older_quota_variable_is_refused(spec: str, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"IAMD_QUOTAS": spec})
    assert str(info.value).startswith(message)


def test_a_quota_is_looked_up_by_name() -> None:
    assert QuotaSettings(users=3).limit("users") == 3
    with pytest.raises(KeyError):
        QuotaSettings().limit("limit")


# --- derived values -------------------------------------------------------------------------------------


def test_the_database_url_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    store = load_settings({"IAMD_DATA_DIR": str(tmp_path)}).store
    assert store.effective_database_url == f"sqlite:///{tmp_path.resolve() / 'iamd.db'}"
    url = "postgresql+psycopg://db/iamd"
    assert load_settings({"IAMD_DATABASE_URL": url}).store.effective_database_url == url
    with pytest.raises(SettingsError, match="either --data-dir or --database-url is required"):
        _ = Settings().store.effective_database_url
