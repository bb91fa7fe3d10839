"""No secret survives into a record: every operation of every model iamd serves, both directions."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.loaders import Loader

from iamd.audit.redact import (
    HIDDEN,
    ModelRenderer,
    cloudtrail_name,
    cloudtrail_time,
    is_sensitive_name,
    redact_free,
    scrub_values,
)

SERVICES = ("iam", "sts", "organizations", "rolesanywhere", "sso", "sso-oidc", "identitystore", "sso-admin")
RENDERER = ModelRenderer()


class _Sampler:
    """A value for a shape in which every string says whether it is secret (``SECRET-n``) or not (``plain-n``)."""

    def __init__(self, shapes: Mapping[str, Any]) -> None:
        self.shapes = shapes
        self.counter = itertools.count()

    def text(self, secret: bool) -> str:
        return f"{'SECRET' if secret else 'plain'}-{next(self.counter)}"

    def value(self, name: str, secret: bool, depth: int) -> Any:
        shape = self.shapes[name]
        secret = secret or bool(shape.get("sensitive"))
        kind = shape["type"]
        if kind == "structure":
            if depth > 7:
                return {}
            out = {}
            for member, ref in shape.get("members", {}).items():
                hidden = secret or bool(ref.get("sensitive")) or is_sensitive_name(member)
                out[member] = self.value(ref["shape"], hidden, depth + 1)
            return out
        if kind == "list":
            ref = shape["member"]
            return [self.value(ref["shape"], secret or bool(ref.get("sensitive")), depth + 1)]
        if kind == "map":
            key_secret = secret or bool(self.shapes[shape["key"]["shape"]].get("sensitive"))
            ref = shape["value"]
            return {self.text(key_secret): self.value(ref["shape"], secret or bool(ref.get("sensitive")), depth + 1)}
        if kind == "blob":
            return self.text(secret).encode()
        if kind == "timestamp":
            return 1_700_000_000.0
        if kind in ("integer", "long"):
            return 7
        if kind in ("float", "double"):
            return 1.5
        if kind == "boolean":
            return True
        if kind == "document":
            return {"note": self.text(secret)}
        return self.text(secret)


def _operations() -> list[tuple[str, str]]:
    loader = Loader()
    return [(svc, op) for svc in SERVICES for op in loader.load_service_model(svc, "service-2")["operations"]]


OPERATIONS = _operations()


def _rendered(service: str, operation: str) -> tuple[str, str, int]:
    model = RENDERER.model(service)
    op = model["operations"][operation]
    sampler = _Sampler(model["shapes"])
    texts = []
    hidden = 0
    for direction in ("input", "output"):
        ref = op.get(direction)
        if ref is None:
            continue
        value = sampler.value(ref["shape"], False, 0)
        if direction == "input":
            out = RENDERER.request_parameters(service, operation, value)
        else:
            out = RENDERER.response_elements(service, operation, value)
        text = json.dumps(out)
        hidden += text.count(HIDDEN)
        texts.append(text)
    return texts[0] if texts else "", texts[-1] if texts else "", hidden


def test_the_sweep_covers_every_model() -> None:
    by_service = {svc: sum(1 for s, _ in OPERATIONS if s == svc) for svc in SERVICES}
    assert all(count >= 3 for count in by_service.values()), by_service
    assert by_service["iam"] > 150


@pytest.mark.parametrize(("service", "operation"), OPERATIONS, ids=[f"{s}:{o}" for s, o in OPERATIONS])
def test_no_sensitive_member_survives(service: str, operation: str) -> None:
    request, response, _ = _rendered(service, operation)
    assert "SECRET-" not in request
    assert "SECRET-" not in response


def test_the_sweep_hides_and_keeps() -> None:
    """The sweep is not vacuous: sensitive members were generated and hidden, plain ones kept."""
    hidden = kept = 0
    for service, operation in OPERATIONS:
        request, response, count = _rendered(service, operation)
        hidden += count
        kept += (request + response).count("plain-")
    assert hidden > 100
    assert kept > 1000


def test_secrets_iamd_handles_are_hidden_by_name() -> None:
    out = RENDERER.response_elements(
        "iam",
        "CreateAccessKey",
        {
            "AccessKey": {
                "UserName": "bob",
                "AccessKeyId": "AKIAEXAMPLE",
                "Status": "Active",
                "SecretAccessKey": "wJalrXUtnFEMI",
                "CreateDate": 1_700_000_000.0,
            }
        },
    )
    assert out == {
        "accessKey": {
            "userName": "bob",
            "accessKeyId": "AKIAEXAMPLE",
            "status": "Active",
            "secretAccessKey": HIDDEN,
            "createDate": "Nov 14, 2023 10:13:20 PM",
        }
    }


def test_session_tokens_are_hidden_though_the_model_does_not_mark_them() -> None:
    out = RENDERER.response_elements(
        "sts",
        "AssumeRole",
        {
            "Credentials": {
                "AccessKeyId": "ASIAEXAMPLE",
                "SecretAccessKey": "secret",
                "SessionToken": "IQtoken",
                "Expiration": datetime(2014, 7, 18, 16, 7, 39, tzinfo=UTC),
            },
            "AssumedRoleUser": {"AssumedRoleId": "AROA:s", "Arn": "arn:aws:sts::1:assumed-role/R/s"},
            "SourceIdentity": "JohnDoe",
        },
    )
    assert out is not None
    assert out["credentials"] == {
        "accessKeyId": "ASIAEXAMPLE",
        "secretAccessKey": HIDDEN,
        "sessionToken": HIDDEN,
        "expiration": "Jul 18, 2014 4:07:39 PM",
    }
    assert out["assumedRoleUser"]["assumedRoleId"] == "AROA:s"


@pytest.mark.parametrize(
    ("service", "operation", "params", "hidden"),
    [
        (
            "iam",
            "EnableMFADevice",
            {"UserName": "u", "SerialNumber": "s", "AuthenticationCode1": "123456", "AuthenticationCode2": "654321"},
            ["authenticationCode1", "authenticationCode2"],
        ),
        (
            "iam",
            "ResyncMFADevice",
            {"UserName": "u", "SerialNumber": "s", "AuthenticationCode1": "123456", "AuthenticationCode2": "654321"},
            ["authenticationCode1", "authenticationCode2"],
        ),
        ("sts", "GetSessionToken", {"SerialNumber": "s", "TokenCode": "123456", "DurationSeconds": 900}, ["tokenCode"]),
        (
            "sts",
            "AssumeRole",
            {"RoleArn": "arn:aws:iam::1:role/r", "RoleSessionName": "s", "TokenCode": "123456"},
            ["tokenCode"],
        ),
        ("iam", "CreateLoginProfile", {"UserName": "u", "Password": "hunter2!"}, ["password"]),
        ("iam", "ChangePassword", {"OldPassword": "a", "NewPassword": "b"}, ["oldPassword", "newPassword"]),
        (
            "iam",
            "UploadServerCertificate",
            {"ServerCertificateName": "c", "CertificateBody": "b", "PrivateKey": "-----BEGIN"},
            ["privateKey"],
        ),
        (
            "sts",
            "AssumeRoleWithWebIdentity",
            {"RoleArn": "arn:aws:iam::1:role/r", "RoleSessionName": "s", "WebIdentityToken": "eyJ"},
            ["webIdentityToken"],
        ),
        (
            "sts",
            "AssumeRoleWithSAML",
            {"RoleArn": "arn:aws:iam::1:role/r", "PrincipalArn": "p", "SAMLAssertion": "PHNhbWw"},
            ["sAMLAssertion"],
        ),
        (
            "sso-oidc",
            "CreateToken",
            {
                "clientId": "c",
                "clientSecret": "s",
                "grantType": "g",
                "code": "authcode",
                "codeVerifier": "v",
                "deviceCode": "d",
            },
            ["clientSecret", "code", "codeVerifier", "deviceCode"],
        ),
    ],
)
def test_one_time_codes_and_credentials_in_requests(
    service: str, operation: str, params: dict[str, Any], hidden: list[str]
) -> None:
    out = RENDERER.request_parameters(service, operation, params)
    assert out is not None
    for key in hidden:
        assert out[key] == HIDDEN
    for name, value in params.items():
        if cloudtrail_name(name) not in hidden:
            assert out[cloudtrail_name(name)] == value


def test_virtual_mfa_seeds_and_qr_codes_are_hidden() -> None:
    out = RENDERER.response_elements(
        "iam",
        "CreateVirtualMFADevice",
        {
            "VirtualMFADevice": {
                "SerialNumber": "arn:aws:iam::1:mfa/p",
                "Base32StringSeed": b"JBSWY3DP",
                "QRCodePNG": b"\x89PNG",
            }
        },
    )
    assert out == {
        "virtualMFADevice": {"serialNumber": "arn:aws:iam::1:mfa/p", "base32StringSeed": HIDDEN, "qRCodePNG": HIDDEN}
    }


def test_members_outside_the_model_are_dropped() -> None:
    out = RENDERER.request_parameters("iam", "CreateUser", {"UserName": "bob", "Smuggled": "x", "Path": None})
    assert out == {"userName": "bob"}


def test_nothing_to_render_is_none() -> None:
    assert RENDERER.request_parameters("iam", "ListUsers", {}) is None
    assert RENDERER.response_elements("iam", "DeleteUser", None) is None
    with pytest.raises(KeyError):
        RENDERER.request_parameters("iam", "NoSuchOperation", {"a": 1})


def test_names_and_times_as_cloudtrail_writes_them() -> None:
    assert cloudtrail_name("RoleSessionName") == "roleSessionName"
    assert cloudtrail_name("SAMLAssertionID") == "sAMLAssertionID"
    assert cloudtrail_time(datetime(2016, 3, 23, 2, 39, 51, tzinfo=UTC)) == "Mar 23, 2016 2:39:51 AM"
    assert cloudtrail_time(datetime(2016, 3, 23, 0, 5, 1, tzinfo=UTC)) == "Mar 23, 2016 12:05:01 AM"
    assert cloudtrail_time(datetime(2016, 3, 23, 12, 0, 0, tzinfo=UTC)) == "Mar 23, 2016 12:00:00 PM"


def test_free_form_data_is_redacted_by_name_at_any_depth() -> None:
    data = {
        "LoginTo": "https://console",
        "webauthn": {
            "credential": {
                "id": "abc",
                "response": {"clientDataJSON": "x", "authenticatorData": "y", "signature": "z", "userHandle": "u"},
            }
        },
        "headers": [
            {"authorization": "AWS4-HMAC-SHA256 ..."},
            {"X-Amz-Security-Token": "IQ"},
            {"cookie": "iamd_session=1"},
        ],
        "totp": "123456",
        "session_token": "IQ",
    }
    out = redact_free(data)
    text = json.dumps(out)
    for secret in ("AWS4-HMAC", '"IQ"', "iamd_session", "123456", 'clientDataJSON": "x'):
        assert secret not in text
    assert out["webauthn"]["credential"] == HIDDEN
    assert out["LoginTo"] == "https://console"


def test_known_secret_values_are_scrubbed_wherever_they_appear() -> None:
    data = {"a": ["hunter2", {"b": "my password is hunter2!"}], "c": "fine", "d": 3}
    assert scrub_values(data, ["hunter2", ""]) == {"a": [HIDDEN, {"b": HIDDEN}], "c": "fine", "d": 3}
