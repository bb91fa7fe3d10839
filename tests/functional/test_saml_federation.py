"""AssumeRoleWithSAML with genuine responses of pysaml2's identity provider, through boto3 (unsigned), on two
nodes sharing one store (SQLite and PostgreSQL): an assertion is accepted once, whichever node sees it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from tests.support.saml_idp import OTHER_ACS, OTHER_SP, SamlIdp, b64, encrypt_assertion, self_signed
from tests.support.server import ACCOUNT_ID, Server, postgres_database, start_server

A = "https://aws.amazon.com/SAML/Attributes/"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT_ID}:saml-provider/corp"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/saml-admin"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def nodes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    base = tmp_path_factory.mktemp(f"saml-{request.param}")
    if request.param == "postgresql":
        request.getfixturevalue("pg_url")
        with postgres_database() as url:
            a = start_server(base / "a", url)
            (base / "b").mkdir()
            (base / "b" / "master.key").write_bytes((base / "a" / "master.key").read_bytes())
            b = start_server(base / "b", url)
            yield a, b
            a.stop()
            b.stop()
    else:
        a = start_server(base / "shared")
        b = start_server(base / "shared")
        yield a, b
        a.stop()
        b.stop()


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> SamlIdp:
    return SamlIdp(tmp_path_factory.mktemp("saml-idp"))


def unsigned_sts(server: Server) -> Any:
    return boto3.client(
        "sts",
        endpoint_url=server.url,
        region_name="us-east-1",
        config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}),
    )


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def attributes(**overrides: Any) -> dict[str, list[str]]:
    base = {A + "Role": [f"{ROLE_ARN},{PROVIDER_ARN}"], A + "RoleSessionName": ["alice@example.com"]}
    base.update({A + k: v for k, v in overrides.items()})
    return base


@pytest.fixture
def setup(nodes: tuple[Server, Server], idp: SamlIdp) -> tuple[Server, Server]:
    """A fresh store with the IdP's provider and a role trusting it (the persistent subject only)."""
    a, b = nodes
    a.reset()
    iam = a.client("iam")
    iam.create_saml_provider(Name="corp", SAMLMetadataDocument=idp.metadata())
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": PROVIDER_ARN},
                "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession", "sts:SetSourceIdentity"],
                "Condition": {
                    "StringEquals": {"saml:aud": "https://signin.aws.amazon.com/saml", "saml:sub_type": "persistent"}
                },
            }
        ],
    }
    iam.create_role(RoleName="saml-admin", AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=7200)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:ListUsers",
                "Resource": "*",
                "Condition": {"StringEquals": {"saml:sub": "alice-id", "aws:PrincipalTag/dept": "eng"}},
            }
        ],
    }
    iam.put_role_policy(RoleName="saml-admin", PolicyName="p", PolicyDocument=json.dumps(policy))
    time.sleep(1.0)  # the other node's caches follow within the documented bound
    return a, b


def test_a_signed_response_gets_role_credentials_once(setup: tuple[Server, Server], idp: SamlIdp) -> None:
    a, b = setup
    xml = idp.response(
        "alice-id",
        attributes(
            SessionDuration=["1800"],
            SourceIdentity=["alice"],
            **{"PrincipalTag:dept": ["eng"]},
            TransitiveTagKeys=["dept"],
        ),
    )
    out = unsigned_sts(a).assume_role_with_saml(RoleArn=ROLE_ARN, PrincipalArn=PROVIDER_ARN, SAMLAssertion=b64(xml))
    assert out["Subject"] == "alice-id" and out["SubjectType"] == "persistent"
    assert out["Issuer"] == idp.entity_id and out["Audience"] == "https://signin.aws.amazon.com/saml"
    assert out["SourceIdentity"] == "alice" and out["NameQualifier"]
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/saml-admin/alice@example.com"
    creds = out["Credentials"]
    assert 1790 <= creds["Expiration"].timestamp() - time.time() <= 1805  # SessionDuration caps the session
    session = b.client("iam", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    session.list_users()  # saml:sub and the PrincipalTag reach the session's requests, on the other node too
    for node in (a, b):  # accepted once, on every node
        with pytest.raises(ClientError) as exc:
            unsigned_sts(node).assume_role_with_saml(
                RoleArn=ROLE_ARN, PrincipalArn=PROVIDER_ARN, SAMLAssertion=b64(xml)
            )
        assert error_of(exc) == ("InvalidIdentityToken", 400, "SAML assertion has already been used")


def test_the_session_keys_limit_the_session(setup: tuple[Server, Server], idp: SamlIdp) -> None:
    a, _ = setup
    xml = idp.response("bob-id", attributes(**{"PrincipalTag:dept": ["eng"]}))
    out = unsigned_sts(a).assume_role_with_saml(RoleArn=ROLE_ARN, PrincipalArn=PROVIDER_ARN, SAMLAssertion=b64(xml))
    creds = out["Credentials"]
    session = a.client("iam", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    with pytest.raises(ClientError) as exc:
        session.list_users()
    assert error_of(exc)[0] == "AccessDenied"


def test_refusals_on_the_wire(setup: tuple[Server, Server], idp: SamlIdp, tmp_path: Path) -> None:
    a, _ = setup
    sts = unsigned_sts(a)

    def refused(xml: str, role: str = ROLE_ARN, provider: str = PROVIDER_ARN) -> tuple[str, int, str]:
        with pytest.raises(ClientError) as exc:
            sts.assume_role_with_saml(RoleArn=role, PrincipalArn=provider, SAMLAssertion=b64(xml))
        return error_of(exc)

    assert refused(idp.response("x", attributes(), sp=OTHER_SP, destination=OTHER_ACS))[:2] == (
        "InvalidIdentityToken",
        400,
    )
    unsigned = idp.response("x", attributes(), sign_response=False, sign_assertion=False)
    assert refused(unsigned) == ("InvalidIdentityToken", 400, "Response signature invalid")
    tampered = idp.response("x", attributes()).replace("alice@example.com", "mallory@example.com")
    assert refused(tampered) == ("InvalidIdentityToken", 400, "Response signature invalid")
    stranger = SamlIdp(tmp_path / "stranger", entity_id=idp.entity_id)  # same entity id, its own key
    assert refused(stranger.response("x", attributes())) == ("InvalidIdentityToken", 400, "Response signature invalid")
    other_role = f"arn:aws:iam::{ACCOUNT_ID}:role/other"
    assert refused(idp.response("x", attributes()), role=other_role) == (
        "AccessDenied",
        403,
        "Not authorized to perform sts:AssumeRoleWithSAML",
    )
    transient = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    assert refused(idp.response("x", attributes(), name_id_format=transient)) == (
        "AccessDenied",
        403,
        "Not authorized to perform sts:AssumeRoleWithSAML",
    )  # the trust policy asks for a persistent subject
    missing = f"arn:aws:iam::{ACCOUNT_ID}:saml-provider/missing"
    xml = idp.response("x", attributes(Role=[f"{ROLE_ARN},{missing}"]))
    assert refused(xml, provider=missing)[:2] == ("InvalidIdentityToken", 400)
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_saml(
            RoleArn=ROLE_ARN,
            PrincipalArn=PROVIDER_ARN,
            SAMLAssertion=b64(idp.response("x", attributes())),
            DurationSeconds=7201,
        )
    assert error_of(exc)[:2] == ("ValidationError", 400)
    # nothing refused above burnt its assertion: a fresh one still works
    assert sts.assume_role_with_saml(
        RoleArn=ROLE_ARN, PrincipalArn=PROVIDER_ARN, SAMLAssertion=b64(idp.response("alice-id", attributes()))
    )["Credentials"]


def test_encrypted_assertions_with_the_providers_private_key(
    setup: tuple[Server, Server], idp: SamlIdp, tmp_path: Path
) -> None:
    a, b = setup
    key, cert = self_signed("corp SAML encryption")
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    iam = a.client("iam")
    iam.update_saml_provider(SAMLProviderArn=PROVIDER_ARN, AddPrivateKey=pem, AssertionEncryptionMode="Required")
    time.sleep(1.0)
    plain = idp.response("alice-id", attributes(**{"PrincipalTag:dept": ["eng"]}))
    encrypted = encrypt_assertion(plain, cert, tmp_path, signer=idp)  # encrypt, then sign the response
    out = unsigned_sts(b).assume_role_with_saml(
        RoleArn=ROLE_ARN, PrincipalArn=PROVIDER_ARN, SAMLAssertion=b64(encrypted)
    )
    assert out["Subject"] == "alice-id"
    with pytest.raises(ClientError) as exc:  # Required: a plain assertion is refused
        unsigned_sts(a).assume_role_with_saml(
            RoleArn=ROLE_ARN, PrincipalArn=PROVIDER_ARN, SAMLAssertion=b64(idp.response("alice-id", attributes()))
        )
    assert error_of(exc) == ("InvalidIdentityToken", 400, "This provider accepts encrypted SAML assertions only")
