"""A real boto3 client whose HTTP layer is replaced by the protocol layer.

``before-send`` receives the signed request botocore built; the fake server runs parse_form ->
parse_action -> parse_input -> a test handler -> serialize_result / serialize_error and hands
back an AWSResponse, so botocore's whole response path runs: XML parsing, error parsing and
modeled exceptions, and the after-call handlers (IAM policy document decoding).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError

from iamd.core.errors import AwsError, NoSuchEntity
from iamd.web.protocol.form import parse_form
from iamd.web.protocol.model import load_service
from iamd.web.protocol.query_parser import parse_action, parse_input
from iamd.web.protocol.xml_serializer import serialize_error, serialize_result

WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
Handler = Callable[[str, dict[str, Any]], Mapping[str, Any] | None]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class FakeServer:
    def __init__(self, service: str) -> None:
        self.spec = load_service(service)
        self.handler: Handler = lambda action, inputs: None
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        body = request.body or b""
        raw = body if isinstance(body, bytes) else body.encode()
        try:
            params = parse_form(raw)
            action = parse_action(params)
            inputs = parse_input(self.spec, action, params)
            self.calls.append((action, inputs))
            xml = serialize_result(self.spec, action, self.handler(action, inputs), "req-42")
            status = 200
        except AwsError as err:
            xml = serialize_error(err, "req-42", xml_namespace=self.spec.xml_namespace)
            status = err.status
        return AWSResponse(request.url, status, {"x-amzn-requestid": "req-42", "content-type": "text/xml"}, _Raw(xml))


def make_client(service: str, validate: bool = True) -> tuple[Any, FakeServer]:
    server = FakeServer(service)
    session = boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-east-1"
    )
    client = session.client(
        service,
        endpoint_url=f"https://{service}.example.test",
        config=Config(retries={"total_max_attempts": 1}, parameter_validation=validate),
    )
    client.meta.events.register("before-send", server)
    return client, server


@pytest.fixture
def iam() -> tuple[Any, FakeServer]:
    return make_client("iam")


@pytest.fixture
def sts() -> tuple[Any, FakeServer]:
    return make_client("sts")


TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
INLINE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:Get*"], "Resource": "arn:aws:s3:::my bucket/é/*", "Sid": "a+b=c&d"},
    ],
}


def test_create_user_with_tags(iam: tuple[Any, FakeServer]) -> None:
    client, server = iam
    tags = [{"Key": "team", "Value": "a b"}, {"Key": "cost:center", "Value": "42"}]

    def handler(action: str, p: dict[str, Any]) -> Mapping[str, Any]:
        return {
            "User": {
                "Path": p["Path"],
                "UserName": p["UserName"],
                "UserId": "AIDAEXAMPLE0000000000",
                "Arn": f"arn:aws:iam::123456789012:user{p['Path']}{p['UserName']}",
                "CreateDate": WHEN.timestamp(),
                "Tags": p["Tags"],
            }
        }

    server.handler = handler
    response = client.create_user(UserName="bob", Path="/eng/", Tags=tags)
    assert server.calls == [("CreateUser", {"Path": "/eng/", "UserName": "bob", "Tags": tags})]
    assert response["User"] == {
        "Path": "/eng/",
        "UserName": "bob",
        "UserId": "AIDAEXAMPLE0000000000",
        "Arn": "arn:aws:iam::123456789012:user/eng/bob",
        "CreateDate": WHEN,
        "Tags": tags,
    }
    assert response["ResponseMetadata"]["RequestId"] == "req-42"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_policy_documents_in_and_out(iam: tuple[Any, FakeServer]) -> None:
    client, server = iam
    stored: dict[str, str] = {}

    def handler(action: str, p: dict[str, Any]) -> Mapping[str, Any] | None:
        if action == "PutUserPolicy":
            stored[p["PolicyName"]] = p["PolicyDocument"]
            return None
        return {"UserName": p["UserName"], "PolicyName": p["PolicyName"], "PolicyDocument": stored[p["PolicyName"]]}

    server.handler = handler
    text = json.dumps(INLINE, indent=2).replace("\n", "\r\n")
    client.put_user_policy(UserName="bob", PolicyName="inline", PolicyDocument=text)
    assert stored["inline"] == text  # byte for byte, CRs included
    response = client.get_user_policy(UserName="bob", PolicyName="inline")
    assert response["PolicyDocument"] == INLINE  # botocore unquoted and parsed it


def test_role_trust_policy_and_authorization_details(iam: tuple[Any, FakeServer]) -> None:
    client, server = iam
    trust_text = json.dumps(TRUST)
    inline_text = json.dumps(INLINE)

    def handler(action: str, p: dict[str, Any]) -> Mapping[str, Any] | None:
        if action == "GetRole":
            return {
                "Role": {
                    "Path": "/",
                    "RoleName": p["RoleName"],
                    "RoleId": "AROAEXAMPLE000000000",
                    "Arn": "arn:aws:iam::123456789012:role/r",
                    "CreateDate": WHEN,
                    "AssumeRolePolicyDocument": trust_text,
                    "MaxSessionDuration": 3600,
                    "RoleLastUsed": {},
                }
            }
        assert action == "GetAccountAuthorizationDetails"
        assert p == {"Filter": ["Role", "LocalManagedPolicy"]}
        return {
            "RoleDetailList": [
                {
                    "RoleName": "r",
                    "AssumeRolePolicyDocument": trust_text,
                    "RolePolicyList": [{"PolicyName": "p", "PolicyDocument": inline_text}],
                    "InstanceProfileList": [],
                    "AttachedManagedPolicies": [],
                }
            ],
            "Policies": [
                {
                    "PolicyName": "m",
                    "PolicyVersionList": [
                        {"Document": inline_text, "VersionId": "v1", "IsDefaultVersion": True, "CreateDate": WHEN}
                    ],
                }
            ],
            "IsTruncated": False,
        }

    server.handler = handler
    role = client.get_role(RoleName="r")["Role"]
    assert role["AssumeRolePolicyDocument"] == TRUST
    assert role["MaxSessionDuration"] == 3600
    details = client.get_account_authorization_details(Filter=["Role", "LocalManagedPolicy"])
    role_detail = details["RoleDetailList"][0]
    assert role_detail["AssumeRolePolicyDocument"] == TRUST
    assert role_detail["RolePolicyList"][0]["PolicyDocument"] == INLINE
    assert role_detail["InstanceProfileList"] == [] and role_detail["AttachedManagedPolicies"] == []
    assert details["Policies"][0]["PolicyVersionList"][0]["Document"] == INLINE
    assert details["Policies"][0]["PolicyVersionList"][0]["IsDefaultVersion"] is True


def test_simulate_principal_policy_context_entries(iam: tuple[Any, FakeServer]) -> None:
    client, server = iam
    entries = [
        {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.0.0.1", "10.0.0.2"], "ContextKeyType": "ipList"},
        {"ContextKeyName": "aws:username", "ContextKeyValues": ["bob"], "ContextKeyType": "string"},
    ]

    def handler(action: str, p: dict[str, Any]) -> Mapping[str, Any]:
        return {
            "EvaluationResults": [
                {
                    "EvalActionName": name,
                    "EvalResourceName": "*",
                    "EvalDecision": "allowed",
                    "MatchedStatements": [{"SourcePolicyId": "p", "StartPosition": {"Line": 1, "Column": 2}}],
                    "MissingContextValues": [],
                    "EvalDecisionDetails": {"IAM Policy": "allowed"},
                }
                for name in p["ActionNames"]
            ],
            "IsTruncated": False,
        }

    server.handler = handler
    response = client.simulate_principal_policy(
        PolicySourceArn="arn:aws:iam::123456789012:user/bob",
        ActionNames=["s3:GetObject", "s3:PutObject"],
        ContextEntries=entries,
    )
    assert server.calls[0][1]["ContextEntries"] == entries
    results = response["EvaluationResults"]
    assert [r["EvalActionName"] for r in results] == ["s3:GetObject", "s3:PutObject"]
    assert results[0]["MatchedStatements"][0]["StartPosition"] == {"Line": 1, "Column": 2}
    assert results[0]["EvalDecisionDetails"] == {"IAM Policy": "allowed"}
    assert results[0]["MissingContextValues"] == []


def test_sts_assume_role(sts: tuple[Any, FakeServer]) -> None:
    client, server = sts

    def handler(action: str, p: dict[str, Any]) -> Mapping[str, Any]:
        return {
            "Credentials": {
                "AccessKeyId": "ASIAEXAMPLE000000000",
                "SecretAccessKey": "s/e+c=r",
                "SessionToken": "tok+/=",
                "Expiration": WHEN.timestamp() + p["DurationSeconds"],
            },
            "AssumedRoleUser": {
                "AssumedRoleId": f"AROA:{p['RoleSessionName']}",
                "Arn": "arn:aws:sts::1:assumed-role/r/s",
            },
            "PackedPolicySize": 6,
            "SourceIdentity": p["SourceIdentity"],
        }

    server.handler = handler
    response = client.assume_role(
        RoleArn="arn:aws:iam::123456789012:role/r",
        RoleSessionName="sess",
        PolicyArns=[{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
        Policy=json.dumps(INLINE),
        DurationSeconds=3600,
        Tags=[{"Key": "Project", "Value": "x"}],
        TransitiveTagKeys=["Project"],
        SourceIdentity="bob",
    )
    assert server.calls[0][1] == {
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "RoleSessionName": "sess",
        "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
        "Policy": json.dumps(INLINE),
        "DurationSeconds": 3600,
        "Tags": [{"Key": "Project", "Value": "x"}],
        "TransitiveTagKeys": ["Project"],
        "SourceIdentity": "bob",
    }
    assert response["Credentials"]["Expiration"] == datetime(2024, 1, 2, 4, 4, 5, tzinfo=UTC)
    assert response["Credentials"]["SecretAccessKey"] == "s/e+c=r"
    assert response["AssumedRoleUser"]["AssumedRoleId"] == "AROA:sess"
    assert response["PackedPolicySize"] == 6


def test_sts_get_caller_identity(sts: tuple[Any, FakeServer]) -> None:
    client, server = sts
    server.handler = lambda action, p: {
        "UserId": "AIDA1",
        "Account": "123456789012",
        "Arn": "arn:aws:iam::123456789012:user/bob",
    }
    assert client.get_caller_identity()["Account"] == "123456789012"
    assert server.calls == [("GetCallerIdentity", {})]


def test_empty_lists_and_operation_without_input(iam: tuple[Any, FakeServer]) -> None:
    client, server = iam
    server.handler = lambda action, p: {"Users": [], "IsTruncated": False}
    assert client.list_users()["Users"] == []
    server.handler = lambda action, p: {"SummaryMap": {"Users": 0, "UsersQuota": 5000}}
    assert client.get_account_summary()["SummaryMap"] == {"Users": 0, "UsersQuota": 5000}
    assert server.calls[-1] == ("GetAccountSummary", {})


def test_strings_with_markup_and_control_characters(iam: tuple[Any, FakeServer]) -> None:
    client, server = iam
    description = "<b>&amp;</b> \"quoted\" 'single'\ttab\r\nline é 日本 😀"

    def handler(action: str, p: dict[str, Any]) -> Mapping[str, Any]:
        return {
            "Role": {
                "Path": "/",
                "RoleName": p["RoleName"],
                "RoleId": "AROA1",
                "Arn": "arn:aws:iam::1:role/r",
                "CreateDate": WHEN,
                "Description": description + "\x01",
            }
        }

    server.handler = handler
    assert client.get_role(RoleName="r")["Role"]["Description"] == description + "\ufffd"


def test_modeled_error(iam: tuple[Any, FakeServer]) -> None:
    client, server = iam

    def handler(action: str, p: dict[str, Any]) -> None:
        raise NoSuchEntity(f"The user with name {p['UserName']} cannot be found.")

    server.handler = handler
    with pytest.raises(client.exceptions.NoSuchEntityException) as info:
        client.get_user(UserName="ghost")
    error = info.value.response["Error"]
    assert error == {"Type": "Sender", "Code": "NoSuchEntity", "Message": "The user with name ghost cannot be found."}
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert info.value.response["ResponseMetadata"]["RequestId"] == "req-42"


def test_validation_error_from_the_parser(iam: tuple[Any, FakeServer]) -> None:
    client, server = iam
    with pytest.raises(ClientError) as info:
        client.create_user(UserName="a b", Path="nope")
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationError" and error["Type"] == "Sender"
    assert error["Message"].startswith("2 validation errors detected: Value 'nope' at 'path' failed to satisfy")
    assert server.calls == []
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_null_error_without_client_side_validation() -> None:
    client, _ = make_client("iam", validate=False)
    with pytest.raises(ClientError) as info:
        client.get_role()
    assert info.value.response["Error"]["Message"] == (
        "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null"
    )


def test_sts_error(sts: tuple[Any, FakeServer]) -> None:
    client, _ = sts
    with pytest.raises(ClientError) as info:
        client.assume_role(RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="bad name")
    assert info.value.response["Error"]["Code"] == "ValidationError"
    assert "at 'roleSessionName'" in info.value.response["Error"]["Message"]
