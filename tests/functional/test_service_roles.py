"""Services that act for customers (on both databases): a registered service assumes a customer's
role only where the role trusts its service principal, and only with the aws:SourceArn /
aws:SourceAccount / aws:SourceOrgID the trust policy requires (confused-deputy protection); it then
acts with the session it got."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.test_organization_guardrails import keyed
from tests.functional.test_organizations import allow, session_client
from tests.support.server import ACCOUNT_ID, Server

SERVICE = "backup.example.internal"


def code_of(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as exc:
        call()
    return str(exc.value.response["Error"]["Code"])


def register(iamd: Server, name: str = SERVICE) -> dict[str, str]:
    proc = iamd.cli("services", "register", name)
    assert proc.returncode == 0, proc.stderr
    creds: dict[str, str] = json.loads(proc.stdout)
    return creds


def service_client(
    iamd: Server, creds: dict[str, str], service: str = "sts", source: dict[str, str] | None = None
) -> Any:
    """A client signing as the registered service, sending (and signing) the source headers."""
    client = iamd.client(service, access_key_id=creds["AccessKeyId"], secret_access_key=creds["SecretAccessKey"])
    return with_source(client, source)


def with_source(client: Any, source: dict[str, str] | None) -> Any:
    """``client`` adding (and signing) the source headers to every request."""
    if source:

        def add_source(request: Any, **_: Any) -> None:
            for name, value in source.items():
                request.headers[name] = value

        client.meta.events.register("before-sign", add_source)
    return client


def trust_for_service(condition: dict[str, Any] | None = None, service: str = SERVICE) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


VAULT = f"arn:aws:backup:us-east-1:{ACCOUNT_ID}:backup-vault:main"
GUARDED = {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}, "ArnLike": {"aws:SourceArn": VAULT}}


def source(arn: str = VAULT, account: str = ACCOUNT_ID) -> dict[str, str]:
    return {"X-Amz-Source-Arn": arn, "X-Amz-Source-Account": account}


def test_service_assumes_a_role_that_trusts_it_and_acts_with_it(iamd: Server, iam: Any) -> None:
    creds = register(iamd)
    assert creds["ServicePrincipal"] == SERVICE and creds["AccessKeyId"].startswith("AKIA")
    iam.create_role(RoleName="backup-access", AssumeRolePolicyDocument=trust_for_service(GUARDED))
    iam.put_role_policy(
        RoleName="backup-access",
        PolicyName="read",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]}
        ),
    )
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/backup-access"

    sts = service_client(iamd, creds, source=source())
    assert sts.get_caller_identity()["Arn"] == SERVICE
    session = sts.assume_role(RoleArn=role, RoleSessionName="backup-job")
    assert session["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/backup-access/backup-job"
    got = session["Credentials"]
    acting = session_client(iamd, got)
    assert "backup-access" in [r["RoleName"] for r in acting.list_roles()["Roles"]]
    assert code_of(lambda: acting.create_user(UserName="x")) == "AccessDenied"

    # The service itself has no permissions of its own.
    assert code_of(lambda: service_client(iamd, creds, service="iam").list_roles()) == "AccessDenied"


def test_confused_deputy_and_untrusted_roles_are_refused(iamd: Server, iam: Any) -> None:
    creds = register(iamd)
    iam.create_role(RoleName="guarded", AssumeRolePolicyDocument=trust_for_service(GUARDED))
    iam.create_role(RoleName="other-service", AssumeRolePolicyDocument=trust_for_service(service="ci.example.internal"))
    guarded = f"arn:aws:iam::{ACCOUNT_ID}:role/guarded"

    # Another customer's resource as the source: the deputy must not be confused into using this role.
    foreign = source(arn="arn:aws:backup:us-east-1:999988887777:backup-vault:main", account="999988887777")
    wrong = service_client(iamd, creds, source=foreign)
    assert code_of(lambda: wrong.assume_role(RoleArn=guarded, RoleSessionName="job")) == "AccessDenied"
    bare = service_client(iamd, creds)
    assert code_of(lambda: bare.assume_role(RoleArn=guarded, RoleSessionName="job")) == "AccessDenied"
    right = service_client(iamd, creds, source=source())
    right.assume_role(RoleArn=guarded, RoleSessionName="job")
    other = f"arn:aws:iam::{ACCOUNT_ID}:role/other-service"
    assert code_of(lambda: right.assume_role(RoleArn=other, RoleSessionName="job")) == "AccessDenied"

    # A user cannot claim to be the service, nor set the source keys.
    mallory = with_source(keyed(iamd, iam, "mallory", allow("sts:AssumeRole"), service="sts"), source())
    assert code_of(lambda: mallory.assume_role(RoleArn=guarded, RoleSessionName="job")) == "AccessDenied"


def test_source_org_id_comes_from_the_source_accounts_organization(iamd: Server, iam: Any) -> None:
    creds = register(iamd)
    organization = iamd.client("organizations").create_organization(FeatureSet="ALL")["Organization"]["Id"]
    condition = {"StringEquals": {"aws:SourceOrgID": organization}}
    iam.create_role(RoleName="org-only", AssumeRolePolicyDocument=trust_for_service(condition))
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/org-only"
    service_client(iamd, creds, source=source()).assume_role(RoleArn=role, RoleSessionName="job")
    outside = service_client(iamd, creds, source=source(account="999988887777"))
    assert code_of(lambda: outside.assume_role(RoleArn=role, RoleSessionName="job")) == "AccessDenied"


def test_admin_cli_registers_lists_and_deregisters(iamd: Server) -> None:
    creds = register(iamd)
    again = iamd.cli("services", "register", SERVICE)
    assert again.returncode == 1 and "registered already" in again.stderr
    bad = iamd.cli("services", "register", "Not A Name")
    assert bad.returncode == 1 and "service principal name" in bad.stderr
    listed = json.loads(iamd.cli("services", "list").stdout)
    assert [(s["ServicePrincipal"], s["AccessKeyId"]) for s in listed] == [(SERVICE, creds["AccessKeyId"])]
    assert "SecretAccessKey" not in listed[0]

    client = service_client(iamd, creds)
    assert client.get_caller_identity()["Arn"] == SERVICE
    assert iamd.cli("services", "deregister", SERVICE).returncode == 0
    deadline = time.monotonic() + 10  # other nodes (this server, for the CLI) see it within the cache bound
    while True:
        try:
            client.get_caller_identity()
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "InvalidClientTokenId"
            break
        assert time.monotonic() < deadline, "the deregistered service's key still works"
        time.sleep(0.2)


class BackupService:
    """The worked example: a small service acting for customers.  A customer configures it with a
    role; it checks that the configuring user may pass that role to it (iam:PassRole), then runs each
    job by assuming the role with the job's source (its vault) and acting with the session."""

    def __init__(self, iamd: Server, creds: dict[str, str]) -> None:
        self.iamd = iamd
        self.creds = creds
        self.jobs: dict[str, tuple[str, str]] = {}

    def configure(self, user_arn: str, role_arn: str, vault_arn: str) -> None:
        proc = self.iamd.cli(
            "services",
            "check-pass-role",
            "--principal",
            user_arn,
            "--role",
            role_arn,
            "--service",
            self.creds["ServicePrincipal"],
            "--associated-resource",
            vault_arn,
        )
        answer = json.loads(proc.stdout) if proc.stdout else {}
        if proc.returncode != 0:
            raise PermissionError(answer.get("Message") or proc.stderr)
        assert answer["Allowed"] is True
        self.jobs[vault_arn] = (role_arn, vault_arn.split(":")[4])

    def run_job(self, vault_arn: str) -> list[str]:
        role_arn, account = self.jobs[vault_arn]
        sts = service_client(self.iamd, self.creds, source=source(arn=vault_arn, account=account))
        got = sts.assume_role(RoleArn=role_arn, RoleSessionName="backup-job")["Credentials"]
        iam = session_client(self.iamd, got)
        return [r["RoleName"] for r in iam.list_roles()["Roles"]]


def test_worked_example_pass_role_then_assume_with_source(iamd: Server, iam: Any) -> None:
    service = BackupService(iamd, register(iamd))
    iam.create_role(RoleName="backup-access", AssumeRolePolicyDocument=trust_for_service(GUARDED))
    iam.put_role_policy(RoleName="backup-access", PolicyName="read", PolicyDocument=allow("iam:ListRoles"))
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/backup-access"
    may_pass = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iam:PassRole",
                    "Resource": role,
                    "Condition": {"StringEquals": {"iam:PassedToService": SERVICE}},
                }
            ],
        }
    )
    keyed(iamd, iam, "alice", may_pass)
    keyed(iamd, iam, "bob", allow("iam:GetUser"))

    with pytest.raises(PermissionError, match="iam:PassRole"):
        service.configure(f"arn:aws:iam::{ACCOUNT_ID}:user/bob", role, VAULT)
    other = BackupService(iamd, register(iamd, "ci.example.internal"))
    with pytest.raises(PermissionError, match="iam:PassRole"):  # alice may pass it to the backup service only
        other.configure(f"arn:aws:iam::{ACCOUNT_ID}:user/alice", role, VAULT)
    service.configure(f"arn:aws:iam::{ACCOUNT_ID}:user/alice", role, VAULT)
    assert "backup-access" in service.run_job(VAULT)

    # A job naming another customer's vault is a confused-deputy attempt: the trust policy refuses it.
    foreign = "arn:aws:backup:us-east-1:999988887777:backup-vault:main"
    service.jobs[foreign] = (role, "999988887777")
    assert code_of(lambda: service.run_job(foreign)) == "AccessDenied"

    unknown = iamd.cli(
        "services",
        "check-pass-role",
        "--principal",
        f"arn:aws:iam::{ACCOUNT_ID}:user/nobody",
        "--role",
        role,
        "--service",
        SERVICE,
    )
    assert unknown.returncode == 2 and "there is no user" in unknown.stderr


def test_only_its_service_assumes_a_service_linked_role(iamd: Server, iam: Any) -> None:
    linked = register(iamd, "iamd.internal")  # in IAMD_SERVICE_LINKED_PRINCIPALS by default
    stranger = register(iamd)
    role = iam.create_service_linked_role(AWSServiceName="iamd.internal")["Role"]
    assert role["Path"] == "/aws-service-role/iamd.internal/"

    session = service_client(iamd, linked).assume_role(RoleArn=role["Arn"], RoleSessionName="job")
    assert session["AssumedRoleUser"]["Arn"].endswith(f":assumed-role/{role['RoleName']}/job")
    assert code_of(lambda: service_client(iamd, stranger).assume_role(RoleArn=role["Arn"], RoleSessionName="job")) == (
        "AccessDenied"
    )
    admin = keyed(iamd, iam, "admin", allow("*"), service="sts")
    assert code_of(lambda: admin.assume_role(RoleArn=role["Arn"], RoleSessionName="job")) == "AccessDenied"
    root = iamd.client("sts")
    assert code_of(lambda: root.assume_role(RoleArn=role["Arn"], RoleSessionName="job")) == "AccessDenied"


def test_forward_access_session_fills_called_via(iamd: Server, iam: Any) -> None:
    creds = register(iamd)
    via_service_only = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": "iam:ListRoles",
                    "Resource": "*",
                    "Condition": {
                        "ForAnyValue:StringEquals": {"aws:CalledVia": [SERVICE]},
                        "StringEquals": {"aws:CalledViaFirst": SERVICE, "aws:CalledViaLast": SERVICE},
                        "Bool": {"aws:ViaAWSService": "true"},
                    },
                },
            ],
        }
    )
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID}, "Action": "sts:AssumeRole"}],
        }
    )
    iam.create_role(RoleName="analyst", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="analyst", PolicyName="p", PolicyDocument=via_service_only)
    alice = keyed(iamd, iam, "alice", allow("sts:AssumeRole"), service="sts")
    got = alice.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/analyst", RoleSessionName="alice")["Credentials"]
    direct = session_client(iamd, got)
    direct.get_role(RoleName="analyst")
    assert code_of(direct.list_roles) == "AccessDenied"  # not through the service

    forward = {"X-Amz-Forward-Session-Token": got["SessionToken"]}
    via = service_client(iamd, creds, service="iam", source=forward)
    assert "analyst" in [r["RoleName"] for r in via.list_roles()["Roles"]]  # the user's call, via the service
    assert code_of(lambda: via.create_user(UserName="x")) == "AccessDenied"  # with the user's permissions only
    caller = service_client(iamd, creds, source=forward).get_caller_identity()
    assert caller["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/analyst/alice"

    broken = service_client(iamd, creds, service="iam", source={"X-Amz-Forward-Session-Token": "bogus"})
    assert code_of(broken.list_roles) == "InvalidClientTokenId"
    # Anyone else's header is ignored: the call stays theirs.
    mallory = with_source(keyed(iamd, iam, "mallory", allow("iam:GetUser")), forward)
    assert code_of(mallory.list_roles) == "AccessDenied"
