"""CloudTrail-shaped records: identities, API calls, console sign-ins, decisions, service events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from iamd.audit import record as rec
from iamd.audit.chain import canonical_json
from iamd.audit.names import EVENT_VERSION, Resource, is_read_only, resource_from_arn, resources_from_parameters
from iamd.audit.redact import HIDDEN
from iamd.auth.session_tokens import SessionClaims, principal_from_claims
from iamd.core.principal import Principal, PrincipalKind

ACCOUNT = "111122223333"
T0 = 1_700_000_000.0
ORIGIN = rec.RequestOrigin(
    time=T0, region="us-east-1", source_ip="192.0.2.10", user_agent="aws-cli/2.15", request_id="req-1"
)

ALICE = Principal(
    kind=PrincipalKind.USER,
    account_id=ACCOUNT,
    arn=f"arn:aws:iam::{ACCOUNT}:user/dev/alice",
    user_id="AIDAALICE",
    name="alice",
    access_key_id="AKIAALICE",
    entity_id="u1",
)
ROOT = Principal(
    kind=PrincipalKind.ROOT,
    account_id=ACCOUNT,
    arn=f"arn:aws:iam::{ACCOUNT}:root",
    user_id=ACCOUNT,
    name=ACCOUNT,
    access_key_id="AKIAROOT",
)


def _claims(**overrides: Any) -> SessionClaims:
    values: dict[str, Any] = {
        "account_id": ACCOUNT,
        "access_key_id": "ASIAROLE",
        "secret_access_key": "sessionsecret",
        "principal_kind": "assumed-role",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/ci-run",
        "user_id": "AROADEPLOY:ci-run",
        "name": "Deploy",
        "issued_at": T0 - 60,
        "expires_at": T0 + 3600,
        "entity_id": "r1",
        "session_name": "ci-run",
        "role_arn": f"arn:aws:iam::{ACCOUNT}:role/ops/Deploy",
        "source_identity": "alice",
        "mfa_authenticated_at": T0 - 30,
    }
    values.update(overrides)
    return SessionClaims(**values)


def test_iam_user_identity() -> None:
    assert rec.identity_of(ALICE).as_record() == {
        "type": "IAMUser",
        "principalId": "AIDAALICE",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/dev/alice",
        "accountId": ACCOUNT,
        "accessKeyId": "AKIAALICE",
        "userName": "alice",
    }
    assert rec.identity_of(ALICE).lookup_username == "alice"


def test_root_identity() -> None:
    identity = rec.identity_of(ROOT)
    assert identity.as_record() == {
        "type": "Root",
        "principalId": ACCOUNT,
        "arn": f"arn:aws:iam::{ACCOUNT}:root",
        "accountId": ACCOUNT,
        "accessKeyId": "AKIAROOT",
    }
    assert identity.lookup_username == "root"


def test_assumed_role_identity_with_session_context() -> None:
    identity = rec.identity_of(principal_from_claims(_claims()))
    assert identity.as_record() == {
        "type": "AssumedRole",
        "principalId": "AROADEPLOY:ci-run",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/ci-run",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAROLE",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROADEPLOY",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/ops/Deploy",
                "accountId": ACCOUNT,
                "userName": "Deploy",
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": "2023-11-14T22:12:20Z", "mfaAuthenticated": "true"},
            "sourceIdentity": "alice",
        },
    }
    assert identity.lookup_username == "ci-run"


def test_federated_user_identity_names_its_issuer() -> None:
    claims = _claims(
        principal_kind="federated-user",
        arn=f"arn:aws:sts::{ACCOUNT}:federated-user/bob",
        user_id=f"{ACCOUNT}:bob",
        name="bob",
        entity_id="AIDAALICE",
        session_name=None,
        role_arn=None,
        source_identity=None,
        mfa_authenticated_at=None,
        source_arn=f"arn:aws:iam::{ACCOUNT}:user/dev/alice",
    )
    identity = rec.identity_of(principal_from_claims(claims)).as_record()
    assert identity["type"] == "FederatedUser"
    assert identity["sessionContext"] == {
        "sessionIssuer": {
            "type": "IAMUser",
            "principalId": "AIDAALICE",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/dev/alice",
            "accountId": ACCOUNT,
            "userName": "alice",
        },
        "attributes": {"creationDate": "2023-11-14T22:12:20Z", "mfaAuthenticated": "false"},
    }


def test_session_token_user_and_console_sessions() -> None:
    claims = _claims(
        principal_kind="user",
        arn=ALICE.arn,
        user_id="AIDAALICE",
        name="alice",
        role_arn=None,
        source_identity=None,
        session_name=None,
    )
    identity = rec.identity_of(principal_from_claims(claims)).as_record()
    assert identity["type"] == "IAMUser" and identity["userName"] == "alice"
    assert identity["accessKeyId"] == "ASIAROLE"
    assert identity["sessionContext"] == {
        "attributes": {"creationDate": "2023-11-14T22:12:20Z", "mfaAuthenticated": "true"}
    }
    console = rec.identity_of(principal_from_claims(claims), console=True).as_record()
    assert console["accessKeyId"] == ""


def test_cross_account_and_service_identities() -> None:
    other = rec.other_account(rec.identity_of(principal_from_claims(_claims()))).as_record()
    assert other == {"type": "AWSAccount", "principalId": "AROADEPLOY", "accountId": ACCOUNT}
    assert rec.aws_service("ec2.amazonaws.com").as_record() == {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}
    assert rec.unknown("AKIAUNKNOWN").as_record() == {
        "type": "Unknown",
        "principalId": "",
        "accessKeyId": "AKIAUNKNOWN",
    }


def test_an_api_call_record_in_cloudtrail_order() -> None:
    event = rec.api_call(
        "iam",
        "CreateUser",
        rec.identity_of(ALICE),
        ORIGIN,
        request={"UserName": "bob", "Path": "/dev/"},
        response={
            "User": {
                "UserName": "bob",
                "UserId": "AIDABOB",
                "Arn": "arn:aws:iam::1:user/dev/bob",
                "Path": "/dev/",
                "CreateDate": T0,
            }
        },
    )
    record = event.record
    assert list(record) == [
        "eventVersion",
        "userIdentity",
        "eventTime",
        "eventSource",
        "eventName",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "requestParameters",
        "responseElements",
        "requestID",
        "eventID",
        "readOnly",
        "eventType",
        "managementEvent",
        "recipientAccountId",
        "eventCategory",
    ]
    assert record["eventVersion"] == EVENT_VERSION
    assert record["eventTime"] == "2023-11-14T22:13:20Z"
    assert record["eventSource"] == "iam.amazonaws.com"
    assert record["requestParameters"] == {"userName": "bob", "path": "/dev/"}
    assert record["responseElements"]["user"]["createDate"] == "Nov 14, 2023 10:13:20 PM"
    assert record["readOnly"] is False and record["eventType"] == "AwsApiCall"
    assert record["managementEvent"] is True and record["eventCategory"] == "Management"
    assert record["recipientAccountId"] == ACCOUNT
    assert [(r.type, r.name) for r in event.resources] == [("AWS::IAM::User", "bob")]
    assert event.username == "alice" and event.access_key_id == "AKIAALICE"
    json.dumps(record)


def test_reads_omit_response_elements_but_credential_calls_keep_them() -> None:
    read = rec.api_call(
        "iam",
        "GetUser",
        rec.identity_of(ALICE),
        ORIGIN,
        request={"UserName": "bob"},
        response={"User": {"UserName": "bob"}},
    )
    assert read.record["readOnly"] is True and read.record["responseElements"] is None
    assumed = rec.api_call(
        "sts",
        "AssumeRole",
        rec.identity_of(ALICE),
        ORIGIN,
        request={"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/ops/Deploy", "RoleSessionName": "s"},
        response={
            "Credentials": {"AccessKeyId": "ASIAX", "SecretAccessKey": "k", "SessionToken": "t", "Expiration": T0}
        },
    )
    assert assumed.record["readOnly"] is True
    assert assumed.record["responseElements"]["credentials"]["sessionToken"] == HIDDEN
    assert assumed.record["resources"] == [
        {"accountId": ACCOUNT, "type": "AWS::IAM::Role", "ARN": f"arn:aws:iam::{ACCOUNT}:role/ops/Deploy"}
    ]


def test_an_error_record_has_code_and_message_and_no_response() -> None:
    event = rec.api_call(
        "iam",
        "DeleteUser",
        rec.identity_of(ALICE),
        ORIGIN,
        request={"UserName": "bob"},
        response={"ignored": 1},
        error_code="AccessDenied",
        error_message="User: x is not authorized to perform: iam:DeleteUser",
    )
    record = event.record
    assert list(record)[8:12] == ["errorCode", "errorMessage", "requestParameters", "responseElements"]
    assert record["responseElements"] is None and event.error_code == "AccessDenied"


def test_cross_account_copy_shares_an_event_id() -> None:
    caller = rec.identity_of(principal_from_claims(_claims(account_id="444455556666")))
    event = rec.api_call(
        "sts",
        "AssumeRole",
        caller,
        ORIGIN,
        request={"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/r", "RoleSessionName": "s"},
    )
    mine = rec.with_shared_id(event, "shared-1")
    theirs = rec.for_recipient(event, ACCOUNT, "shared-1")
    assert mine.record["sharedEventID"] == theirs.record["sharedEventID"] == "shared-1"
    assert list(theirs.record).index("sharedEventID") == list(theirs.record).index("recipientAccountId") + 1
    assert theirs.record["eventID"] != event.record["eventID"]
    assert theirs.record["userIdentity"] == {
        "type": "AWSAccount",
        "principalId": "AROADEPLOY",
        "accountId": "444455556666",
    }
    assert theirs.record["recipientAccountId"] == ACCOUNT


def test_console_login_success_as_aws_writes_it() -> None:
    event = rec.console_login(
        rec.RequestOrigin(time=T0, region="us-east-1", source_ip="192.0.2.0", user_agent="Mozilla/5.0"),
        account_id=ACCOUNT,
        outcome=rec.LoginOutcome.SUCCESS,
        principal=ALICE,
        mfa_used=True,
        mfa_identifier=f"arn:aws:iam::{ACCOUNT}:mfa/alice",
        login_to="https://iamd.example/console",
    )
    record = event.record
    assert record["eventSource"] == "signin.amazonaws.com" and record["eventName"] == "ConsoleLogin"
    assert record["eventType"] == "AwsConsoleSignIn"
    assert record["userIdentity"] == {
        "type": "IAMUser",
        "principalId": "AIDAALICE",
        "arn": ALICE.arn,
        "accountId": ACCOUNT,
        "accessKeyId": "",
        "userName": "alice",
    }
    assert record["requestParameters"] is None
    assert record["responseElements"] == {"ConsoleLogin": "Success"}
    assert record["additionalEventData"] == {
        "LoginTo": "https://iamd.example/console",
        "MobileVersion": "No",
        "MFAIdentifier": f"arn:aws:iam::{ACCOUNT}:mfa/alice",
        "MFAUsed": "Yes",
    }
    assert "errorMessage" not in record and "requestID" not in record


def test_console_login_failures() -> None:
    wrong_password = rec.console_login(
        ORIGIN, account_id=ACCOUNT, outcome=rec.LoginOutcome.FAILURE, principal=ALICE, secrets=["hunter2"]
    )
    assert wrong_password.record["errorMessage"] == "Failed authentication"
    assert wrong_password.record["responseElements"] == {"ConsoleLogin": "Failure"}
    unknown = rec.console_login(
        ORIGIN,
        account_id=ACCOUNT,
        outcome=rec.LoginOutcome.FAILURE,
        user_known=False,
        secrets=["hunter2-typed-as-name"],
    )
    assert unknown.record["userIdentity"] == {
        "type": "IAMUser",
        "accountId": ACCOUNT,
        "accessKeyId": "",
        "userName": HIDDEN,
    }
    assert unknown.record["errorMessage"] == "No username found in supplied account"
    assert unknown.username == HIDDEN
    root = rec.console_login(ORIGIN, account_id=ACCOUNT, outcome=rec.LoginOutcome.FAILURE, root=True)
    assert root.record["userIdentity"]["type"] == "Root" and root.record["errorMessage"] == "Failed authentication"


def test_check_mfa() -> None:
    event = rec.check_mfa(ORIGIN, account_id=ACCOUNT, principal=ALICE, success=False, mfa_type="U2F MFA")
    assert event.record["eventName"] == "CheckMfa"
    assert event.record["responseElements"] == {"CheckMfa": "Failure"}
    assert event.record["additionalEventData"] == {"MfaType": "U2F MFA"}


def test_authorization_decision_records() -> None:
    service = rec.identity_of(ROOT)
    denied = rec.authorization(
        ORIGIN,
        identity=rec.identity_of(ALICE),
        caller=service,
        decision=rec.DecisionSummary(
            decision="ExplicitDeny",
            action="myapp:GetDocument",
            resource=f"arn:aws:myapp:us-east-1:{ACCOUNT}:document/42",
            matched_statements=[{"policyType": "scp", "sid": "DenyProd"}],
            explanation="Explicitly denied by a service control policy: DenyProd in guardrails",
            denial_message="User: alice is not authorized to perform: myapp:GetDocument",
        ),
        request_method="GET",
        request_path="/documents/42",
    )
    record = denied.record
    assert record["eventSource"] == "iamd.internal" and record["eventName"] == "Authorize"
    assert record["errorCode"] == "AccessDenied"
    assert record["errorMessage"].startswith("User: alice is not authorized")
    assert record["requestParameters"] == {
        "action": "myapp:GetDocument",
        "resource": f"arn:aws:myapp:us-east-1:{ACCOUNT}:document/42",
        "httpMethod": "GET",
        "httpPath": "/documents/42",
    }
    assert record["additionalEventData"]["matchedStatements"] == [{"policyType": "scp", "sid": "DenyProd"}]
    assert record["additionalEventData"]["requestedBy"] == ROOT.arn
    assert [r.type for r in denied.resources] == ["AWS::myapp::document"]
    allowed = rec.authorization(
        ORIGIN,
        identity=rec.identity_of(ALICE),
        caller=service,
        decision=rec.DecisionSummary(decision="Allow", action="myapp:GetDocument", resource="*"),
    )
    assert "errorCode" not in allowed.record


def test_service_event() -> None:
    event = rec.service_event(
        ORIGIN, name="MfaDeviceLocked", account_id=ACCOUNT, details={"serialNumber": "arn:mfa", "lockedSeconds": 60}
    )
    assert event.record["eventType"] == "AwsServiceEvent"
    assert event.record["userIdentity"] == {"type": "AWSService", "invokedBy": "iamd.internal"}
    assert event.record["serviceEventDetails"] == {"serialNumber": "arn:mfa", "lockedSeconds": 60}


def test_tls_details_and_console_sessions() -> None:
    origin = rec.RequestOrigin(
        time=T0,
        region="us-east-1",
        source_ip="::1",
        user_agent="ua",
        tls_version="TLSv1.3",
        cipher_suite="TLS_AES_128_GCM_SHA256",
        host="iam.example",
    )
    event = rec.api_call("iam", "ListUsers", rec.identity_of(ALICE), origin, request={}, from_console=True)
    assert event.record["tlsDetails"] == {
        "tlsVersion": "TLSv1.3",
        "cipherSuite": "TLS_AES_128_GCM_SHA256",
        "clientProvidedHostHeader": "iam.example",
    }
    assert event.record["sessionCredentialFromConsole"] == "true"
    assert event.record["requestParameters"] is None


SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLETOKEN"
PASSWORD = "correct horse battery staple"
TOTP = "492039"
SEED = "JBSWY3DPEHPK3PXP"


def _every_record_type() -> list[rec.AuditEvent]:
    role = principal_from_claims(_claims(secret_access_key=SECRET_ACCESS_KEY))
    secrets = [SECRET_ACCESS_KEY, SESSION_TOKEN, PASSWORD, TOTP, SEED]
    ua = rec.RequestOrigin(time=T0, region="us-east-1", source_ip="192.0.2.1", user_agent=f"evil {SESSION_TOKEN}")
    return [
        rec.api_call(
            "iam",
            "CreateLoginProfile",
            rec.identity_of(ALICE),
            ORIGIN,
            request={"UserName": "bob", "Password": PASSWORD},
        ),
        rec.api_call(
            "iam",
            "ChangePassword",
            rec.identity_of(ALICE),
            ORIGIN,
            request={"OldPassword": PASSWORD, "NewPassword": PASSWORD},
        ),
        rec.api_call(
            "iam",
            "CreateAccessKey",
            rec.identity_of(ALICE),
            ORIGIN,
            request={"UserName": "bob"},
            response={
                "AccessKey": {
                    "AccessKeyId": "AKIA1",
                    "SecretAccessKey": SECRET_ACCESS_KEY,
                    "UserName": "bob",
                    "Status": "Active",
                }
            },
        ),
        rec.api_call(
            "iam",
            "CreateVirtualMFADevice",
            rec.identity_of(ALICE),
            ORIGIN,
            request={"VirtualMFADeviceName": "phone"},
            response={
                "VirtualMFADevice": {
                    "SerialNumber": "arn:aws:iam::1:mfa/phone",
                    "Base32StringSeed": SEED.encode(),
                    "QRCodePNG": SEED.encode(),
                }
            },
        ),
        rec.api_call(
            "iam",
            "EnableMFADevice",
            rec.identity_of(ALICE),
            ORIGIN,
            request={"UserName": "a", "SerialNumber": "s", "AuthenticationCode1": TOTP, "AuthenticationCode2": TOTP},
        ),
        rec.api_call(
            "sts",
            "GetSessionToken",
            rec.identity_of(role),
            ua,
            request={"SerialNumber": "s", "TokenCode": TOTP},
            response={
                "Credentials": {
                    "AccessKeyId": "ASIA1",
                    "SecretAccessKey": SECRET_ACCESS_KEY,
                    "SessionToken": SESSION_TOKEN,
                    "Expiration": T0,
                }
            },
            secrets=secrets,
        ),
        rec.api_call("sts", "GetCallerIdentity", rec.identity_of(role), ua, request={}, secrets=secrets),
        rec.console_login(
            ORIGIN, account_id=ACCOUNT, outcome=rec.LoginOutcome.FAILURE, user_known=False, secrets=secrets
        ),
        rec.console_login(
            ORIGIN,
            account_id=ACCOUNT,
            outcome=rec.LoginOutcome.SUCCESS,
            principal=ALICE,
            login_to=f"https://x/?code={TOTP}",
            secrets=secrets,
        ),
        rec.check_mfa(
            ORIGIN, account_id=ACCOUNT, principal=ALICE, success=True, mfa_type="Virtual MFA", secrets=secrets
        ),
        rec.authorization(
            ua,
            identity=rec.identity_of(role),
            caller=rec.identity_of(ALICE),
            decision=rec.DecisionSummary("ImplicitDeny", "myapp:Get", "*", explanation="no"),
            request_path=f"/x?token={SESSION_TOKEN}",
            secrets=secrets,
        ),
        rec.service_event(
            ORIGIN,
            name="MfaDeviceLocked",
            account_id=ACCOUNT,
            details={"code": TOTP, "seed": SEED, "password": PASSWORD},
        ),
    ]


@pytest.mark.parametrize("event", _every_record_type(), ids=lambda e: str(e.record["eventName"]))
def test_no_secret_in_any_record_type(event: rec.AuditEvent) -> None:
    text = canonical_json(event.record) + json.dumps(event.record)
    for secret in (SECRET_ACCESS_KEY, SESSION_TOKEN, PASSWORD, TOTP, SEED):
        assert secret not in text
    import base64

    assert base64.b64encode(SEED.encode()).decode() not in text


def test_read_only_classification() -> None:
    assert is_read_only("GetUser") and is_read_only("ListRoles") and is_read_only("SimulatePrincipalPolicy")
    assert is_read_only("AssumeRole") and is_read_only("GetSessionToken")
    assert not is_read_only("CreateUser") and not is_read_only("GenerateCredentialReport")
    assert is_read_only("GenerateServiceLastAccessedDetails")


def test_resources_from_parameters_and_arns() -> None:
    found = resources_from_parameters(
        {"UserName": "bob", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess", "AccessKeyId": "AKIA1"}, ACCOUNT
    )
    assert found == (
        Resource("AWS::IAM::User", "bob", None, ACCOUNT),
        Resource("AWS::IAM::AccessKey", "AKIA1", None, ACCOUNT),
        Resource(
            "AWS::IAM::Policy",
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "aws",
        ),
    )
    role = resource_from_arn(f"arn:aws:iam::{ACCOUNT}:role/ops/Deploy")
    assert role == Resource("AWS::IAM::Role", "Deploy", f"arn:aws:iam::{ACCOUNT}:role/ops/Deploy", ACCOUNT)
    assert resource_from_arn("not an arn") is None
    assert resource_from_arn(f"arn:aws:iam::{ACCOUNT}:weird/x") is None
