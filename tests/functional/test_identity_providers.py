"""IAM OIDC and SAML providers through boto3 against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support.saml_idp import SamlIdp
from tests.support.server import ACCOUNT_ID, Server

GITHUB = "https://token.actions.githubusercontent.com"
GITHUB_ARN = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/token.actions.githubusercontent.com"
THUMB = "6938fd4d98bab03faadb97b34396831e3780aea1"


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


@pytest.fixture(scope="module")
def idp_metadata(tmp_path_factory: pytest.TempPathFactory) -> str:
    return SamlIdp(tmp_path_factory.mktemp("idp")).metadata()


def rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


# --- OIDC ------------------------------------------------------------------------------------------------


def test_oidc_provider_lifecycle(iam: Any) -> None:
    created = iam.create_open_id_connect_provider(
        Url=GITHUB,
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=[THUMB.upper()],
        Tags=[{"Key": "k", "Value": "v"}],
    )
    assert created["OpenIDConnectProviderArn"] == GITHUB_ARN
    assert created["Tags"] == [{"Key": "k", "Value": "v"}]
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=GITHUB_ARN)
    assert got["Url"] == "token.actions.githubusercontent.com"
    assert got["ClientIDList"] == ["sts.amazonaws.com"]
    assert got["ThumbprintList"] == [THUMB]
    assert got["Tags"] == [{"Key": "k", "Value": "v"}]
    assert abs(got["CreateDate"] - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)

    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=GITHUB_ARN, ClientID="app-2")
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=GITHUB_ARN, ClientID="app-2")  # idempotent
    sts_audience = "sts.amazonaws.com"
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=GITHUB_ARN, ClientID=sts_audience)
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=GITHUB_ARN, ClientID="absent")
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=GITHUB_ARN)["ClientIDList"] == ["app-2"]

    other = "a" * 40
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=GITHUB_ARN, ThumbprintList=[other])
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=GITHUB_ARN)["ThumbprintList"] == [other]

    iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=GITHUB_ARN, Tags=[{"Key": "a", "Value": "1"}])
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=GITHUB_ARN, TagKeys=["k"])
    tags = iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=GITHUB_ARN)
    assert tags["Tags"] == [{"Key": "a", "Value": "1"}] and tags["IsTruncated"] is False

    iam.create_open_id_connect_provider(Url="https://oidc.eks.us-east-1.amazonaws.com/id/ABC", ClientIDList=["x"])
    listed = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    assert listed == [f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC", GITHUB_ARN]

    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=GITHUB_ARN)
    with pytest.raises(ClientError) as exc:
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=GITHUB_ARN)
    assert error_of(exc) == ("NoSuchEntity", 404, f"OpenIDConnect Provider not found for arn {GITHUB_ARN}")
    with pytest.raises(ClientError) as exc:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=GITHUB_ARN)
    assert error_of(exc)[0] == "NoSuchEntity"


def test_oidc_provider_refusals(iam: Any) -> None:
    iam.create_open_id_connect_provider(Url=GITHUB, ClientIDList=["sts.amazonaws.com"])
    with pytest.raises(ClientError) as exc:
        iam.create_open_id_connect_provider(Url=GITHUB)
    assert error_of(exc) == ("EntityAlreadyExists", 409, f"Provider with url {GITHUB} already exists.")
    for url in ("http://example.com", "https://example.com/?q=1", "https://", "example.com"):
        with pytest.raises(ClientError) as exc:
            iam.create_open_id_connect_provider(Url=url)
        assert error_of(exc)[:2] == ("InvalidInput", 400), url
    with pytest.raises(ClientError) as exc:
        iam.create_open_id_connect_provider(Url="https://x.example.com", ThumbprintList=["z" * 40])
    assert error_of(exc)[:2] == ("InvalidInput", 400)
    with pytest.raises(ClientError) as exc:
        iam.create_open_id_connect_provider(Url="https://x.example.com", ThumbprintList=["a" * 40] * 6)
    assert error_of(exc)[:2] == ("LimitExceeded", 409)
    with pytest.raises(ClientError) as exc:
        iam.create_open_id_connect_provider(Url="https://x.example.com", ClientIDList=[f"c{i}" for i in range(101)])
    assert error_of(exc) == ("LimitExceeded", 409, "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100")
    with pytest.raises(ClientError) as exc:
        iam.create_open_id_connect_provider(Url="https://x.example.com", Tags=[{"Key": "aws:x", "Value": "1"}])
    assert error_of(exc)[:2] == ("InvalidInput", 400)
    # nothing was created by the refused requests
    assert len(iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]) == 1
    with pytest.raises(ClientError) as exc:
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn="not-an-arn-at-all-xxxx")
    assert error_of(exc)[:2] == ("InvalidInput", 400)
    other = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/nothing.example.com"
    with pytest.raises(ClientError) as exc:
        iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=other, ClientID="a")
    assert error_of(exc)[:2] == ("NoSuchEntity", 404)


def test_oidc_identity_propagation_is_not_implemented(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.create_open_id_connect_provider(Url=GITHUB, ContextProvider={"SubjectSourceKey": "sub"})
    assert error_of(exc)[:2] == ("NotImplemented", 501)


def test_provider_operations_are_authorized_on_the_provider_arn(iamd: Server, iam: Any) -> None:
    iam.create_open_id_connect_provider(Url=GITHUB, Tags=[{"Key": "team", "Value": "red"}])
    iam.create_user(UserName="bob")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:GetOpenIDConnectProvider",
                "Resource": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/*",
                "Condition": {"StringEquals": {"aws:ResourceTag/team": "red"}},
            }
        ],
    }
    iam.put_user_policy(UserName="bob", PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="bob")["AccessKey"]
    bob = iamd.client("iam", key["AccessKeyId"], key["SecretAccessKey"])
    assert bob.get_open_id_connect_provider(OpenIDConnectProviderArn=GITHUB_ARN)["Url"]
    with pytest.raises(ClientError) as exc:
        bob.delete_open_id_connect_provider(OpenIDConnectProviderArn=GITHUB_ARN)
    code, status, message = error_of(exc)
    assert (code, status) == ("AccessDenied", 403)
    assert f"iam:DeleteOpenIDConnectProvider on resource: {GITHUB_ARN}" in message
    iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=GITHUB_ARN, Tags=[{"Key": "team", "Value": "blue"}])
    with pytest.raises(ClientError) as exc:
        bob.get_open_id_connect_provider(OpenIDConnectProviderArn=GITHUB_ARN)
    assert error_of(exc)[0] == "AccessDenied"


# --- SAML ------------------------------------------------------------------------------------------------


def test_saml_provider_lifecycle(iam: Any, idp_metadata: str) -> None:
    arn = f"arn:aws:iam::{ACCOUNT_ID}:saml-provider/corp-idp"
    created = iam.create_saml_provider(
        Name="corp-idp", SAMLMetadataDocument=idp_metadata, Tags=[{"Key": "k", "Value": "v"}]
    )
    assert created["SAMLProviderArn"] == arn and created["Tags"] == [{"Key": "k", "Value": "v"}]
    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert got["SAMLMetadataDocument"] == idp_metadata
    assert len(got["SAMLProviderUUID"]) >= 22 and got["SAMLProviderUUID"].isalnum()
    assert got["ValidUntil"] > dt.datetime.now(dt.UTC)
    assert "PrivateKeyList" not in got and "AssertionEncryptionMode" not in got
    listed = iam.list_saml_providers()["SAMLProviderList"]
    assert [e["Arn"] for e in listed] == [arn] and listed[0]["ValidUntil"] == got["ValidUntil"]

    first = rsa_pem()
    iam.update_saml_provider(SAMLProviderArn=arn, AddPrivateKey=first, AssertionEncryptionMode="Allowed")
    iam.update_saml_provider(SAMLProviderArn=arn, AddPrivateKey=rsa_pem())
    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert got["AssertionEncryptionMode"] == "Allowed" and len(got["PrivateKeyList"]) == 2
    with pytest.raises(ClientError) as exc:
        iam.update_saml_provider(SAMLProviderArn=arn, AddPrivateKey=rsa_pem())
    assert error_of(exc)[:2] == ("LimitExceeded", 409)
    old = got["PrivateKeyList"][0]["KeyId"]
    assert iam.update_saml_provider(SAMLProviderArn=arn, RemovePrivateKey=old)["SAMLProviderArn"] == arn
    assert [k["KeyId"] for k in iam.get_saml_provider(SAMLProviderArn=arn)["PrivateKeyList"]] != [old]
    moved = idp_metadata.replace("https://idp.example.test/sso", "https://idp.example.test/sso-2")
    iam.update_saml_provider(SAMLProviderArn=arn, SAMLMetadataDocument=moved)
    assert iam.get_saml_provider(SAMLProviderArn=arn)["SAMLMetadataDocument"] == moved

    iam.tag_saml_provider(SAMLProviderArn=arn, Tags=[{"Key": "a", "Value": "1"}])
    iam.untag_saml_provider(SAMLProviderArn=arn, TagKeys=["k"])
    assert iam.list_saml_provider_tags(SAMLProviderArn=arn)["Tags"] == [{"Key": "a", "Value": "1"}]
    iam.delete_saml_provider(SAMLProviderArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.get_saml_provider(SAMLProviderArn=arn)
    assert error_of(exc)[:2] == ("NoSuchEntity", 404)
    assert iam.list_saml_providers()["SAMLProviderList"] == []


def test_saml_provider_refusals(iam: Any, idp_metadata: str, tmp_path: Path) -> None:
    iam.create_saml_provider(Name="corp", SAMLMetadataDocument=idp_metadata)
    with pytest.raises(ClientError) as exc:
        iam.create_saml_provider(Name="CORP", SAMLMetadataDocument=idp_metadata)
    assert error_of(exc) == ("EntityAlreadyExists", 409, "Provider with name CORP already exists.")
    not_metadata = "<x>" + "a" * 1200 + "</x>"
    with pytest.raises(ClientError) as exc:
        iam.create_saml_provider(Name="bad", SAMLMetadataDocument=not_metadata)
    code, status, message = error_of(exc)
    assert (code, status) == ("InvalidInput", 400) and message.startswith("Could not parse metadata")
    with pytest.raises(ClientError) as exc:
        iam.create_saml_provider(Name="enc", SAMLMetadataDocument=idp_metadata, AssertionEncryptionMode="Required")
    assert error_of(exc)[:2] == ("InvalidInput", 400)
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ClientError) as exc:
        iam.create_saml_provider(Name="enc", SAMLMetadataDocument=idp_metadata, AddPrivateKey=ec_key.decode())
    assert error_of(exc)[:2] == ("InvalidInput", 400)
    assert [e["Arn"].rsplit("/", 1)[1] for e in iam.list_saml_providers()["SAMLProviderList"]] == ["corp"]
    missing = f"arn:aws:iam::{ACCOUNT_ID}:saml-provider/missing"
    with pytest.raises(ClientError) as exc:
        iam.update_saml_provider(SAMLProviderArn=missing, SAMLMetadataDocument=idp_metadata)
    assert error_of(exc)[:2] == ("NoSuchEntity", 404)
