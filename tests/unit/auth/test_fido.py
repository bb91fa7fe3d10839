from __future__ import annotations

import base64
import datetime
import hashlib
import json
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from iamd.auth.fido import (
    CERTIFICATE_FORMATS,
    Assertion,
    FidoError,
    RegisteredCredential,
    RelyingParty,
    authentication_options,
    load_trust_store,
    parse_assertion,
    registration_options,
    verify_authentication,
    verify_registration,
)
from tests.support.soft_authenticator import AAGUID, SoftAuthenticator, b64url, b64url_decode

ORIGIN = "http://localhost:8080"
USER_HANDLE = bytes(range(16))


def rp(**overrides: Any) -> RelyingParty:
    values: dict[str, Any] = dict(rp_id="localhost", rp_name="iamd", origins=(ORIGIN,))
    values.update(overrides)
    return RelyingParty(**values)


def register(
    party: RelyingParty, auth: SoftAuthenticator, *, resident: bool = True, fmt: str = "none"
) -> RegisteredCredential:
    challenge = registration_options(
        party, user_handle=USER_HANDLE, user_name="alice", display_name="Alice", exclude_credential_ids=[]
    )
    response = auth.create(challenge.options_json, ORIGIN, resident=resident, fmt=fmt)
    return verify_registration(party, response, challenge.challenge)


def reason_of(excinfo: pytest.ExceptionInfo[FidoError]) -> str:
    return excinfo.value.reason


def self_signed_pem(common_name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


# --- options ----------------------------------------------------------------------------------------------------


def test_registration_options_content() -> None:
    existing = [b"\x01" * 16, b"\x02" * 20]
    challenge = registration_options(
        rp(user_verification="required"),
        user_handle=USER_HANDLE,
        user_name="alice",
        display_name="Alice A.",
        exclude_credential_ids=existing,
        timeout_ms=90_000,
    )
    options = json.loads(challenge.options_json)
    assert len(challenge.challenge) == 32
    assert b64url_decode(options["challenge"]) == challenge.challenge
    assert options["rp"] == {"id": "localhost", "name": "iamd"}
    assert options["user"] == {"id": b64url(USER_HANDLE), "name": "alice", "displayName": "Alice A."}
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert options["timeout"] == 90_000
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert [(c["id"], c["type"]) for c in options["excludeCredentials"]] == [
        (b64url(b"\x01" * 16), "public-key"),
        (b64url(b"\x02" * 20), "public-key"),
    ]


def test_registration_options_direct_attestation_and_fresh_challenges() -> None:
    party = rp(attestation="direct")
    first = registration_options(
        party, user_handle=USER_HANDLE, user_name="a", display_name="a", exclude_credential_ids=[]
    )
    second = registration_options(
        party, user_handle=USER_HANDLE, user_name="a", display_name="a", exclude_credential_ids=[]
    )
    assert json.loads(first.options_json)["attestation"] == "direct"
    assert json.loads(first.options_json)["excludeCredentials"] == []
    assert first.challenge != second.challenge


def test_authenticator_honours_exclude_credentials() -> None:
    party, auth = rp(), SoftAuthenticator()
    cred = register(party, auth)
    challenge = registration_options(
        party,
        user_handle=USER_HANDLE,
        user_name="alice",
        display_name="Alice",
        exclude_credential_ids=[cred.credential_id],
    )
    with pytest.raises(ValueError, match="excluded"):
        auth.create(challenge.options_json, ORIGIN)


def test_passkey_first_authentication_options() -> None:
    allows: list[list[bytes] | None] = [None, []]
    for allow in allows:
        challenge = authentication_options(rp(), allow_credential_ids=allow)
        options = json.loads(challenge.options_json)
        assert options["allowCredentials"] == []
        assert options["rpId"] == "localhost"
        assert options["userVerification"] == "preferred"
        assert b64url_decode(options["challenge"]) == challenge.challenge
        assert len(challenge.challenge) == 32


def test_authentication_options_allow_list() -> None:
    challenge = authentication_options(rp(), allow_credential_ids=[b"\xaa" * 16], timeout_ms=5000)
    options = json.loads(challenge.options_json)
    assert options["allowCredentials"] == [{"id": b64url(b"\xaa" * 16), "type": "public-key"}]
    assert options["timeout"] == 5000


def test_relying_party_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        rp(user_verification="always")
    with pytest.raises(ValueError):
        rp(attestation="enterprise")
    with pytest.raises(ValueError):
        rp(origins=())


# --- round trip -------------------------------------------------------------------------------------------------


def test_registration_and_authentication_round_trip() -> None:
    party, auth = rp(), SoftAuthenticator()
    cred = register(party, auth)
    assert cred.credential_id == auth.credential_ids[0]
    assert len(cred.credential_id) == 32
    assert cred.sign_count == 0
    assert cred.aaguid == "1da3fd5e-1c7d-4e8f-9a2b-3c4d5e6f7a8b"
    assert bytes.fromhex(cred.aaguid.replace("-", "")) == AAGUID
    assert cred.discoverable is True
    assert cred.user_verified is True
    assert cred.backed_up is False
    assert cred.attestation_format == "none"
    assert cred.transports == ("internal",)
    assert cbor2.loads(cred.public_key)[3] == -7

    challenge = authentication_options(party, allow_credential_ids=[cred.credential_id])
    response = auth.get(challenge.options_json, ORIGIN)
    assert parse_assertion(response) == Assertion(credential_id=cred.credential_id, user_handle=USER_HANDLE)
    result = verify_authentication(
        party, json.dumps(response), challenge.challenge, public_key=cred.public_key, current_sign_count=0
    )
    assert result.new_sign_count == 1
    assert result.user_verified is True
    assert result.backed_up is False

    challenge = authentication_options(party, allow_credential_ids=None)
    response = auth.get(challenge.options_json, ORIGIN)
    result = verify_authentication(
        party, response, challenge.challenge, public_key=cred.public_key, current_sign_count=result.new_sign_count
    )
    assert result.new_sign_count == 2


def test_non_resident_backed_up_credential() -> None:
    party, auth = rp(), SoftAuthenticator(backed_up=True, sign_count_start=10)
    cred = register(party, auth, resident=False)
    assert cred.discoverable is False
    assert cred.backed_up is True
    assert cred.sign_count == 10
    challenge = authentication_options(party, allow_credential_ids=[cred.credential_id])
    response = auth.get(challenge.options_json, ORIGIN)
    assert parse_assertion(response).user_handle is None
    result = verify_authentication(
        party, response, challenge.challenge, public_key=cred.public_key, current_sign_count=10
    )
    assert (result.new_sign_count, result.backed_up) == (11, True)


def test_zero_counters_are_accepted() -> None:
    # Authenticators without a counter always report 0; that is not a clone signal.
    party, auth = rp(), SoftAuthenticator()
    cred = register(party, auth)
    auth.set_sign_count(cred.credential_id, -1)  # the next assertion reports 0
    challenge = authentication_options(party, allow_credential_ids=None)
    response = auth.get(challenge.options_json, ORIGIN)
    result = verify_authentication(
        party, response, challenge.challenge, public_key=cred.public_key, current_sign_count=0
    )
    assert result.new_sign_count == 0


def test_packed_self_attestation_accepted_without_trust_store() -> None:
    cred = register(rp(), SoftAuthenticator(), fmt="packed")
    assert cred.attestation_format == "packed"


def test_any_configured_origin_is_accepted() -> None:
    party = rp(origins=("https://iam.example", ORIGIN))
    cred = register(party, SoftAuthenticator())
    assert cred.attestation_format == "none"


# --- registration failures --------------------------------------------------------------------------------------


def test_registration_wrong_challenge() -> None:
    party, auth = rp(), SoftAuthenticator()
    challenge = registration_options(
        party, user_handle=USER_HANDLE, user_name="a", display_name="a", exclude_credential_ids=[]
    )
    response = auth.create(challenge.options_json, ORIGIN)
    with pytest.raises(FidoError) as excinfo:
        verify_registration(party, response, b"\x00" * 32)
    assert reason_of(excinfo) == "challenge"


def test_registration_wrong_origin() -> None:
    party, auth = rp(), SoftAuthenticator()
    challenge = registration_options(
        party, user_handle=USER_HANDLE, user_name="a", display_name="a", exclude_credential_ids=[]
    )
    response = auth.create(challenge.options_json, "http://evil.localhost:8080")
    with pytest.raises(FidoError) as excinfo:
        verify_registration(party, response, challenge.challenge)
    assert reason_of(excinfo) == "origin"


def test_registration_wrong_rp_id() -> None:
    party, auth = rp(), SoftAuthenticator()
    challenge = registration_options(
        party, user_handle=USER_HANDLE, user_name="a", display_name="a", exclude_credential_ids=[]
    )
    options = json.loads(challenge.options_json)
    options["rp"]["id"] = "example.com"
    response = auth.create(options, ORIGIN)
    with pytest.raises(FidoError) as excinfo:
        verify_registration(party, response, challenge.challenge)
    assert reason_of(excinfo) == "rp_id"


def test_registration_user_verification_required() -> None:
    party = rp(user_verification="required")
    with pytest.raises(FidoError) as excinfo:
        register(party, SoftAuthenticator(user_verifying=False))
    assert reason_of(excinfo) == "user_verification"
    # Preferred is not enforced.
    assert register(rp(), SoftAuthenticator(user_verifying=False)).user_verified is False


def test_registration_malformed() -> None:
    party = rp()
    challenge = registration_options(
        party, user_handle=USER_HANDLE, user_name="a", display_name="a", exclude_credential_ids=[]
    )
    good = SoftAuthenticator().create(challenge.options_json, ORIGIN)
    broken_cbor = json.loads(json.dumps(good))
    broken_cbor["response"]["attestationObject"] = b64url(b"\xff\x00junk")
    broken_client_data = json.loads(json.dumps(good))
    broken_client_data["response"]["clientDataJSON"] = b64url(b"not json")
    mismatched_id = json.loads(json.dumps(good))
    mismatched_id["id"] = b64url(b"other")
    for junk in ("not json", "[1, 2]", "{}", {"id": "x"}, broken_cbor, broken_client_data, mismatched_id):
        with pytest.raises(FidoError) as excinfo:
            verify_registration(party, junk, challenge.challenge)
        assert reason_of(excinfo) == "malformed", junk


def test_registration_packed_attestation_with_bad_signature() -> None:
    party, auth = rp(), SoftAuthenticator()
    challenge = registration_options(
        party, user_handle=USER_HANDLE, user_name="a", display_name="a", exclude_credential_ids=[]
    )
    response = auth.create(challenge.options_json, ORIGIN, fmt="packed")
    attestation = cbor2.loads(b64url_decode(response["response"]["attestationObject"]))
    attestation["attStmt"]["sig"] = bytes(reversed(attestation["attStmt"]["sig"]))
    response["response"]["attestationObject"] = b64url(cbor2.dumps(attestation))
    with pytest.raises(FidoError) as excinfo:
        verify_registration(party, response, challenge.challenge)
    assert reason_of(excinfo) == "attestation"


def test_direct_attestation_with_trust_store_refuses_none_and_self_attestation(tmp_path: Path) -> None:
    (tmp_path / "root.pem").write_bytes(self_signed_pem("Test Root"))
    party = rp(attestation="direct", trust_store=load_trust_store(tmp_path))
    for fmt in ("none", "packed"):
        with pytest.raises(FidoError) as excinfo:
            register(party, SoftAuthenticator(), fmt=fmt)
        assert reason_of(excinfo) == "attestation", fmt


def test_direct_attestation_refuses_format_without_roots(tmp_path: Path) -> None:
    party = rp(attestation="direct", trust_store={"tpm": [self_signed_pem("TPM Root")]})
    with pytest.raises(FidoError) as excinfo:
        register(party, SoftAuthenticator(), fmt="packed")
    assert reason_of(excinfo) == "attestation"
    assert "packed" in excinfo.value.message


def test_direct_attestation_without_trust_store_accepts_none() -> None:
    cred = register(rp(attestation="direct"), SoftAuthenticator())
    assert cred.attestation_format == "none"


# --- authentication failures ------------------------------------------------------------------------------------


def authenticate_setup(**rp_overrides: Any) -> tuple[RelyingParty, SoftAuthenticator, RegisteredCredential]:
    party, auth = rp(**rp_overrides), SoftAuthenticator()
    return party, auth, register(party, auth)


def test_authentication_wrong_challenge() -> None:
    party, auth, cred = authenticate_setup()
    challenge = authentication_options(party, allow_credential_ids=None)
    response = auth.get(challenge.options_json, ORIGIN)
    with pytest.raises(FidoError) as excinfo:
        verify_authentication(party, response, b"\x01" * 32, public_key=cred.public_key, current_sign_count=0)
    assert reason_of(excinfo) == "challenge"


def test_authentication_wrong_origin() -> None:
    party, auth, cred = authenticate_setup()
    challenge = authentication_options(party, allow_credential_ids=None)
    response = auth.get(challenge.options_json, "https://localhost")
    with pytest.raises(FidoError) as excinfo:
        verify_authentication(party, response, challenge.challenge, public_key=cred.public_key, current_sign_count=0)
    assert reason_of(excinfo) == "origin"


def test_authentication_wrong_rp_id() -> None:
    party, auth, cred = authenticate_setup()
    challenge = authentication_options(party, allow_credential_ids=None)
    response = auth.get(challenge.options_json, ORIGIN)
    other = rp(rp_id="iam.example")
    with pytest.raises(FidoError) as excinfo:
        verify_authentication(other, response, challenge.challenge, public_key=cred.public_key, current_sign_count=0)
    assert reason_of(excinfo) == "rp_id"


def test_authentication_tampered_signature() -> None:
    party, auth, cred = authenticate_setup()
    challenge = authentication_options(party, allow_credential_ids=None)
    response = auth.get(challenge.options_json, ORIGIN)
    signature = bytearray(b64url_decode(response["response"]["signature"]))
    signature[-1] ^= 0x01
    response["response"]["signature"] = b64url(bytes(signature))
    with pytest.raises(FidoError) as excinfo:
        verify_authentication(party, response, challenge.challenge, public_key=cred.public_key, current_sign_count=0)
    assert reason_of(excinfo) == "signature"


def test_authentication_with_another_credentials_key() -> None:
    party, auth, _ = authenticate_setup()
    other = register(party, SoftAuthenticator())
    challenge = authentication_options(party, allow_credential_ids=None)
    response = auth.get(challenge.options_json, ORIGIN)
    with pytest.raises(FidoError) as excinfo:
        verify_authentication(party, response, challenge.challenge, public_key=other.public_key, current_sign_count=0)
    assert reason_of(excinfo) == "signature"


def test_authentication_counter_must_increase() -> None:
    party, auth, cred = authenticate_setup()
    challenge = authentication_options(party, allow_credential_ids=None)
    first = verify_authentication(
        party,
        auth.get(challenge.options_json, ORIGIN),
        challenge.challenge,
        public_key=cred.public_key,
        current_sign_count=0,
    )
    assert first.new_sign_count == 1
    auth.set_sign_count(cred.credential_id, 0)  # a clone that is one use behind: reports 1 again
    challenge = authentication_options(party, allow_credential_ids=None)
    response = auth.get(challenge.options_json, ORIGIN)
    with pytest.raises(FidoError) as excinfo:
        verify_authentication(party, response, challenge.challenge, public_key=cred.public_key, current_sign_count=1)
    assert reason_of(excinfo) == "counter"


def test_bad_signature_with_stale_counter_is_a_signature_error() -> None:
    party, auth, cred = authenticate_setup()
    challenge = authentication_options(party, allow_credential_ids=None)
    response = auth.get(challenge.options_json, ORIGIN)  # counter 1
    signature = bytearray(b64url_decode(response["response"]["signature"]))
    signature[-1] ^= 0x01
    response["response"]["signature"] = b64url(bytes(signature))
    with pytest.raises(FidoError) as excinfo:
        verify_authentication(party, response, challenge.challenge, public_key=cred.public_key, current_sign_count=5)
    assert reason_of(excinfo) == "signature"


def test_authentication_user_verification_required() -> None:
    lax = rp()
    auth = SoftAuthenticator(user_verifying=False)
    cred = register(lax, auth)
    strict = rp(user_verification="required")
    challenge = authentication_options(strict, allow_credential_ids=None)
    assert json.loads(challenge.options_json)["userVerification"] == "required"
    response = auth.get(challenge.options_json, ORIGIN)
    with pytest.raises(FidoError) as excinfo:
        verify_authentication(strict, response, challenge.challenge, public_key=cred.public_key, current_sign_count=0)
    assert reason_of(excinfo) == "user_verification"
    result = verify_authentication(lax, response, challenge.challenge, public_key=cred.public_key, current_sign_count=0)
    assert result.user_verified is False


def test_authentication_malformed() -> None:
    party, auth, cred = authenticate_setup()
    challenge = authentication_options(party, allow_credential_ids=None)
    good = auth.get(challenge.options_json, ORIGIN)
    short_auth_data = json.loads(json.dumps(good))
    short_auth_data["response"]["authenticatorData"] = b64url(b"\x00" * 10)
    no_signature = json.loads(json.dumps(good))
    del no_signature["response"]["signature"]
    junks: list[str | dict[str, Any]] = ["{", "null", '"string"', {}, short_auth_data, no_signature]
    for junk in junks:
        with pytest.raises(FidoError) as excinfo:
            verify_authentication(party, junk, challenge.challenge, public_key=cred.public_key, current_sign_count=0)
        assert reason_of(excinfo) == "malformed", junk


def test_authentication_with_corrupt_stored_key_does_not_leak_library_errors() -> None:
    party, auth, _ = authenticate_setup()
    challenge = authentication_options(party, allow_credential_ids=None)
    response = auth.get(challenge.options_json, ORIGIN)
    for key in (b"", b"\xa0", cbor2.dumps({1: 2}), cbor2.dumps({1: 99, 3: -7})):
        with pytest.raises(FidoError) as excinfo:
            verify_authentication(party, response, challenge.challenge, public_key=key, current_sign_count=0)
        assert reason_of(excinfo) in {"malformed", "unsupported"}, key


def test_client_data_is_bound_to_signature() -> None:
    party, auth, cred = authenticate_setup()
    challenge = authentication_options(party, allow_credential_ids=None)
    response = auth.get(challenge.options_json, ORIGIN)
    client_data = json.loads(b64url_decode(response["response"]["clientDataJSON"]))
    client_data["crossOrigin"] = True
    response["response"]["clientDataJSON"] = b64url(json.dumps(client_data).encode())
    with pytest.raises(FidoError) as excinfo:
        verify_authentication(party, response, challenge.challenge, public_key=cred.public_key, current_sign_count=0)
    assert reason_of(excinfo) == "signature"


# --- parse_assertion --------------------------------------------------------------------------------------------


def test_parse_assertion_returns_ids() -> None:
    party, auth, cred = authenticate_setup()
    challenge = authentication_options(party, allow_credential_ids=None)
    response = auth.get(challenge.options_json, ORIGIN)
    parsed = parse_assertion(json.dumps(response))
    assert parsed.credential_id == cred.credential_id
    assert parsed.user_handle == USER_HANDLE


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "nope",
        "[]",
        {},
        {"id": 5, "rawId": 5, "response": {}},
        {"id": "!!!", "rawId": "!!!", "response": {}},
        {"id": "", "rawId": "", "response": {}},
        {"id": "AAAA", "rawId": "AAAB", "response": {}},
        {"id": "AAAA", "rawId": "AAAA"},
        {"id": "AAAA", "rawId": "AAAA", "response": {"userHandle": 7}},
        {"id": "AAAA", "rawId": "AAAA", "response": {"userHandle": "a"}},
    ],
)
def test_parse_assertion_malformed(junk: Any) -> None:
    with pytest.raises(FidoError) as excinfo:
        parse_assertion(junk)
    assert reason_of(excinfo) == "malformed"


# --- trust store ------------------------------------------------------------------------------------------------


def test_load_trust_store(tmp_path: Path) -> None:
    assert load_trust_store(tmp_path) == {}
    first, second, third = self_signed_pem("A"), self_signed_pem("B"), self_signed_pem("C")
    (tmp_path / "bundle.pem").write_bytes(first + b"\n" + second)
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "c.pem").write_bytes(third)
    (tmp_path / "ignored.crt").write_bytes(self_signed_pem("D"))
    store = load_trust_store(tmp_path)
    assert set(store) == set(CERTIFICATE_FORMATS)
    assert set(store) == {"packed", "fido-u2f", "tpm", "android-key", "android-safetynet", "apple"}
    for roots in store.values():
        assert roots == [first, second, third]
    subjects = [x509.load_pem_x509_certificate(pem).subject.rfc4514_string() for pem in store["packed"]]
    assert subjects == ["CN=A", "CN=B", "CN=C"]


def test_load_trust_store_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_trust_store(tmp_path / "missing")
    (tmp_path / "bad.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError, match=r"bad\.pem"):
        load_trust_store(tmp_path)


def test_fido_error_reason_is_checked() -> None:
    error = FidoError("counter", "went backwards")
    assert (error.reason, error.message, str(error)) == ("counter", "went backwards", "counter: went backwards")
    with pytest.raises(ValueError):
        FidoError("nonsense", "x")


def test_soft_authenticator_signs_authenticator_data_and_client_data_hash() -> None:
    # Guards the test double itself: the signature base is authenticatorData || SHA-256(clientDataJSON).
    party, auth, cred = authenticate_setup()
    challenge = authentication_options(party, allow_credential_ids=None)
    response = auth.get(challenge.options_json, ORIGIN)
    auth_data = b64url_decode(response["response"]["authenticatorData"])
    client_data = b64url_decode(response["response"]["clientDataJSON"])
    assert auth_data[:32] == hashlib.sha256(b"localhost").digest()
    assert auth_data[32] & 0x05 == 0x05  # UP and UV
    public_key = auth.credential(cred.credential_id).private_key.public_key()
    public_key.verify(
        b64url_decode(response["response"]["signature"]),
        auth_data + hashlib.sha256(client_data).digest(),
        ec.ECDSA(hashes.SHA256()),
    )
    assert "=" not in response["response"]["signature"]
    assert base64.urlsafe_b64decode(response["id"] + "==") == cred.credential_id
