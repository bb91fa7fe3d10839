"""Console rules that need no server: throttle delays, relying party, device names, serials, settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iamd.core.config import ConsoleSettings, IdentitySettings, ServerSettings, Settings, ThrottleSettings
from iamd.services.console import fido_devices, throttle
from iamd.services.console.errors import ConsoleError, too_many


def test_no_delay_within_the_free_allowance_then_doubling_to_the_ceiling() -> None:
    rules = ThrottleSettings(user_free=3, base_seconds=1.0, max_seconds=60.0)
    assert [rules.delay(n, 3) for n in range(1, 4)] == [0.0, 0.0, 0.0]
    assert [rules.delay(n, 3) for n in range(4, 11)] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0]
    assert rules.delay(10_000, 3) == 60.0


def test_throttle_keys_fold_case_and_never_exceed_the_column() -> None:
    assert throttle.user_key("123456789012", "Alice") == throttle.user_key("123456789012", "alice")
    assert throttle.root_key("Root@Example.com") == "root:root@example.com"
    assert len(throttle.user_key("123456789012", "x" * 1000)) == 320
    assert throttle.source_key("") == "ip:-"


def test_too_many_rounds_up_and_says_when() -> None:
    err = too_many(0.2)
    assert err.status == 429 and err.retry_after == 1
    assert err.message == "Too many failed attempts. Try again in 1 second."
    assert too_many(29.5).message == "Too many failed attempts. Try again in 30 seconds."


def test_relying_party_defaults_to_the_request_host() -> None:
    rp = fido_devices.relying_party(Settings(), "localhost:8443", "https")
    assert rp.rp_id == "localhost"
    assert rp.origins == ("https://localhost:8443",)
    assert rp.user_verification == "preferred" and rp.attestation == "none"


def test_relying_party_from_configuration_wins() -> None:
    console = ConsoleSettings(
        webauthn_rp_id="iam.example.com",
        webauthn_origins=("https://iam.example.com",),
        webauthn_user_verification="required",
    )
    settings = Settings(console=console)
    rp = fido_devices.relying_party(settings, "10.0.0.5:8080", "http")
    assert rp.rp_id == "iam.example.com"
    assert rp.origins == ("https://iam.example.com",)
    assert rp.user_verification == "required"


def test_fido_is_not_offered_in_aws_cn() -> None:
    assert fido_devices.offered(Settings(identity=IdentitySettings(partition="aws")))
    assert fido_devices.offered(Settings(identity=IdentitySettings(partition="aws-us-gov")))
    assert not fido_devices.offered(Settings(identity=IdentitySettings(partition="aws-cn")))
    with pytest.raises(ConsoleError) as info:
        fido_devices.require_offered(Settings(identity=IdentitySettings(partition="aws-cn")))
    assert info.value.status == 403


def test_fido_serials_are_u2f_arns_of_the_owner() -> None:
    user = fido_devices.serial_for("aws", "123456789012", "alice", "yubikey")
    assert user.startswith("arn:aws:iam::123456789012:u2f/user/alice/yubikey-")
    root = fido_devices.serial_for("aws-us-gov", "123456789012", None, "key")
    assert root.startswith("arn:aws-us-gov:iam::123456789012:u2f/root/key-")
    assert user != fido_devices.serial_for("aws", "123456789012", "alice", "yubikey")


@pytest.mark.parametrize("name", ["", " ", "a" * 65, "has space", "slash/name", "<script>"])
def test_device_names_are_refused_outside_the_iam_alphabet(name: str) -> None:
    with pytest.raises(ConsoleError):
        fido_devices.check_device_name(name)


def test_device_names_are_trimmed() -> None:
    assert fido_devices.check_device_name("  my-key_1@home.  ") == "my-key_1@home."


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("webauthn_user_verification", "always", "IAMD_WEBAUTHN_USER_VERIFICATION must be required, preferred or"),
        ("webauthn_attestation", "enterprise", "IAMD_WEBAUTHN_ATTESTATION must be none or direct, not 'enterprise'"),
        ("session_seconds", 59, "IAMD_CONSOLE_SESSION_SECONDS must be between 60 and 43200, not 59"),
        ("session_seconds", 43201, "IAMD_CONSOLE_SESSION_SECONDS must be between 60 and 43200"),
    ],
)
def test_bad_console_settings_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ConsoleSettings(**{field: value})  # type: ignore[arg-type]


def test_tls_needs_both_files() -> None:
    with pytest.raises(ValueError, match="--tls-cert and --tls-key go together"):
        ServerSettings(tls_cert=Path("cert.pem"))
    assert ServerSettings(tls_cert=Path("cert.pem"), tls_key=Path("key.pem")).tls_key == Path("key.pem")
