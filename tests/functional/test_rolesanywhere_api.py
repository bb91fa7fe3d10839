"""Roles Anywhere's control plane through boto3's own ``rolesanywhere`` client (REST-JSON, SigV4), on both
backends: trust anchors, profiles, CRLs, subjects and tags, authorized by policies; and a CreateSession
against what the API created, by iamd's credential helper client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization

from iamd.helper.files import SigningMaterial
from iamd.helper.session import RolesAnywhereClient, SessionRequest
from tests.support import pki
from tests.support.server import Server

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "rolesanywhere.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
        }
    ],
}


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_trust_anchors_profiles_crls_and_a_session(iamd: Server) -> None:
    ra = iamd.client("rolesanywhere", region="eu-west-1")
    root = pki.root_ca("api root")
    anchor = ra.create_trust_anchor(
        name="corp",
        source={"sourceType": "CERTIFICATE_BUNDLE", "sourceData": {"x509CertificateData": root.cert_pem().decode()}},
        enabled=True,
        tags=[{"key": "team", "value": "platform"}],
    )["trustAnchor"]
    assert (
        anchor["trustAnchorArn"]
        == f"arn:aws:rolesanywhere:eu-west-1:{iamd.account_id}:trust-anchor/{anchor['trustAnchorId']}"
    )
    assert anchor["enabled"] is True and anchor["source"]["sourceType"] == "CERTIFICATE_BUNDLE"
    assert [a["trustAnchorId"] for a in ra.list_trust_anchors()["trustAnchors"]] == [anchor["trustAnchorId"]]
    assert ra.list_tags_for_resource(resourceArn=anchor["trustAnchorArn"])["tags"] == [
        {"key": "team", "value": "platform"}
    ]
    assert iamd.client("rolesanywhere", region="us-east-1").list_trust_anchors()["trustAnchors"] == []

    iamd.client("iam").create_role(RoleName="api-role", AssumeRolePolicyDocument=json.dumps(TRUST))
    role_arn = f"arn:aws:iam::{iamd.account_id}:role/api-role"
    profile = ra.create_profile(name="api", roleArns=[role_arn], durationSeconds=1800, enabled=True)["profile"]
    assert {m["certificateField"] for m in profile["attributeMappings"]} == {"x509Subject", "x509Issuer", "x509SAN"}
    profile = ra.put_attribute_mapping(
        profileId=profile["profileId"], certificateField="x509Subject", mappingRules=[{"specifier": "CN"}]
    )["profile"]
    subject_rules = next(m for m in profile["attributeMappings"] if m["certificateField"] == "x509Subject")
    assert subject_rules["mappingRules"] == [{"specifier": "CN"}]
    updated = ra.update_profile(profileId=profile["profileId"], durationSeconds=900)["profile"]
    assert updated["durationSeconds"] == 900

    revoked = root.issue_leaf("revoked.example.com")
    crl = ra.import_crl(
        name="corp-crl",
        crlData=root.crl([revoked.certificate.serial_number]).public_bytes(serialization.Encoding.DER),
        trustAnchorArn=anchor["trustAnchorArn"],
        enabled=True,
    )["crl"]
    assert ra.get_crl(crlId=crl["crlId"])["crl"]["trustAnchorArn"] == anchor["trustAnchorArn"]
    assert ra.disable_crl(crlId=crl["crlId"])["crl"]["enabled"] is False
    ra.enable_crl(crlId=crl["crlId"])

    def session(leaf: pki.Issued) -> Any:
        request = SessionRequest(anchor["trustAnchorArn"], profile["profileArn"], role_arn, duration_seconds=900)
        material = SigningMaterial(leaf.certificate, leaf.key, ())  # type: ignore[arg-type]
        return RolesAnywhereClient(material, request, endpoint=iamd.url).fetch()

    good = root.issue_leaf("good.example.com")
    credentials = session(good)
    caller = iamd.client(
        "sts", credentials.access_key_id, credentials.secret_access_key, credentials.session_token
    ).get_caller_identity()
    assert caller["Arn"].startswith(f"arn:aws:sts::{iamd.account_id}:assumed-role/api-role/")
    with pytest.raises(Exception, match="revoked"):
        session(revoked)
    ra.disable_trust_anchor(trustAnchorId=anchor["trustAnchorId"])
    with pytest.raises(Exception, match="disabled"):
        session(good)

    subjects = ra.list_subjects()["subjects"]
    assert [s["x509Subject"] for s in subjects] == [good.certificate.subject.rfc4514_string()]
    detail = ra.get_subject(subjectId=subjects[0]["subjectId"])["subject"]
    assert detail["credentials"][0]["enabled"] is True

    settings = ra.put_notification_settings(
        trustAnchorId=anchor["trustAnchorId"],
        notificationSettings=[{"enabled": True, "event": "CA_CERTIFICATE_EXPIRY", "threshold": 30}],
    )["trustAnchor"]["notificationSettings"]
    assert {(s["event"], s["threshold"]) for s in settings} >= {("CA_CERTIFICATE_EXPIRY", 30)}

    ra.untag_resource(resourceArn=anchor["trustAnchorArn"], tagKeys=["team"])
    assert ra.list_tags_for_resource(resourceArn=anchor["trustAnchorArn"])["tags"] == []
    assert ra.delete_profile(profileId=profile["profileId"])["profile"]["name"] == "api"
    ra.delete_trust_anchor(trustAnchorId=anchor["trustAnchorId"])
    with pytest.raises(ClientError) as missing:
        ra.get_trust_anchor(trustAnchorId=anchor["trustAnchorId"])
    assert _code(missing) == "ResourceNotFoundException"


def test_bad_input_gets_validation_errors(iamd: Server) -> None:
    ra = iamd.client("rolesanywhere")
    leaf = pki.root_ca("x").issue_leaf("not-a-ca")
    with pytest.raises(ClientError) as not_ca:
        ra.create_trust_anchor(
            name="bad",
            source={
                "sourceType": "CERTIFICATE_BUNDLE",
                "sourceData": {"x509CertificateData": leaf.cert_pem().decode()},
            },
        )
    assert _code(not_ca) == "ValidationException" and "not a CA certificate" in str(not_ca.value)
    with pytest.raises(ClientError) as pca:
        ra.create_trust_anchor(
            name="pca", source={"sourceType": "AWS_ACM_PCA", "sourceData": {"acmPcaArn": "arn:aws:acm-pca:x"}}
        )
    assert _code(pca) == "ValidationException"
    with pytest.raises(ClientError) as roles:
        ra.create_profile(name="p", roleArns=["not-an-arn"])
    assert _code(roles) == "ValidationException"


def test_policies_decide_who_may_administer(iamd: Server) -> None:
    iam = iamd.client("iam")
    iam.create_user(UserName="auditor")
    iam.put_user_policy(
        UserName="auditor",
        PolicyName="read",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "rolesanywhere:List*", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    ra = iamd.client("rolesanywhere", key["AccessKeyId"], key["SecretAccessKey"])
    assert ra.list_profiles()["profiles"] == []
    with pytest.raises(ClientError) as denied:
        ra.create_profile(name="p", roleArns=[f"arn:aws:iam::{iamd.account_id}:role/r"])
    assert _code(denied) == "AccessDeniedException"
    assert "rolesanywhere:CreateProfile" in str(denied.value)


def test_the_aws_cli_administers_trust_anchors(iamd: Server, tmp_path: Path) -> None:
    root = pki.root_ca("cli root")
    source = tmp_path / "source.json"
    source.write_text(
        json.dumps(
            {"sourceType": "CERTIFICATE_BUNDLE", "sourceData": {"x509CertificateData": root.cert_pem().decode()}}
        )
    )
    created = iamd.aws(
        "rolesanywhere", "create-trust-anchor", "--name", "cli", "--enabled", "--source", f"file://{source}"
    )
    anchor_id = created["trustAnchor"]["trustAnchorId"]
    listed = iamd.aws("rolesanywhere", "list-trust-anchors")["trustAnchors"]
    assert [a["trustAnchorId"] for a in listed] == [anchor_id]
    disabled = iamd.aws("rolesanywhere", "disable-trust-anchor", "--trust-anchor-id", anchor_id)
    assert disabled["trustAnchor"]["enabled"] is False


def test_resource_tags_and_arns_decide_too(iamd: Server) -> None:
    admin = iamd.client("rolesanywhere")
    root = pki.root_ca("tagged root")
    source = {"sourceType": "CERTIFICATE_BUNDLE", "sourceData": {"x509CertificateData": root.cert_pem().decode()}}
    platform = admin.create_trust_anchor(name="platform", source=source, tags=[{"key": "team", "value": "platform"}])
    other = admin.create_trust_anchor(name="other", source=source)
    iam = iamd.client("iam")
    iam.create_user(UserName="operator")
    statements = [
        {
            "Effect": "Allow",
            "Action": ["rolesanywhere:GetTrustAnchor", "rolesanywhere:DisableTrustAnchor"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/team": "platform"}},
        },
        {
            "Effect": "Allow",
            "Action": "rolesanywhere:CreateProfile",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestTag/team": "platform"}},
        },
    ]
    iam.put_user_policy(
        UserName="operator",
        PolicyName="platform-only",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    key = iam.create_access_key(UserName="operator")["AccessKey"]
    ra = iamd.client("rolesanywhere", key["AccessKeyId"], key["SecretAccessKey"])
    anchor_id = platform["trustAnchor"]["trustAnchorId"]
    assert ra.get_trust_anchor(trustAnchorId=anchor_id)["trustAnchor"]["name"] == "platform"
    assert ra.disable_trust_anchor(trustAnchorId=anchor_id)["trustAnchor"]["enabled"] is False
    with pytest.raises(ClientError) as denied:
        ra.get_trust_anchor(trustAnchorId=other["trustAnchor"]["trustAnchorId"])
    assert _code(denied) == "AccessDeniedException"
    assert other["trustAnchor"]["trustAnchorArn"] in str(denied.value)
    role = f"arn:aws:iam::{iamd.account_id}:role/r"
    ra.create_profile(name="tagged", roleArns=[role], tags=[{"key": "team", "value": "platform"}])
    with pytest.raises(ClientError) as untagged:
        ra.create_profile(name="untagged", roleArns=[role])
    assert _code(untagged) == "AccessDeniedException"
