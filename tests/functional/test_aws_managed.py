"""AWS managed policies over the wire: the shipped catalogue enforces AWS's real documents, and
``iamd policies import-aws-managed`` adds policies and versions that boto3 then sees."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import ACCOUNT_ID, Server, postgres_database, start_server

EXPORT = Path(__file__).parents[1] / "unit" / "services" / "data" / "aws-managed-export.json"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
VIEW_ONLY = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"
SECURITY_AUDIT = "arn:aws:iam::aws:policy/SecurityAudit"
SUPPORT = "arn:aws:iam::aws:policy/AWSSupportAccess"
CHANGE_PASSWORD = "arn:aws:iam::aws:policy/IAMUserChangePassword"
SSM_ROLE = "arn:aws:iam::aws:policy/service-role/AmazonEC2RoleforSSM"
CONFIG_ROLE = "arn:aws:iam::aws:policy/service-role/AWSConfigRole"


def user_with_policy(iamd: Server, name: str, policy_arn: str) -> Any:
    iam = iamd.client("iam")
    iam.create_user(UserName=name)
    iam.attach_user_policy(UserName=name, PolicyArn=policy_arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return iamd.client("iam", key["AccessKeyId"], key["SecretAccessKey"])


def allowed(call: Callable[..., Any], **kwargs: Any) -> None:
    call(**kwargs)


def denied(call: Callable[..., Any], **kwargs: Any) -> str:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    return str(exc.value.response["Error"]["Message"])


def all_aws_policies(iam: Any) -> dict[str, dict[str, Any]]:
    pages = iam.get_paginator("list_policies").paginate(Scope="AWS")
    return {p["Arn"]: p for page in pages for p in page["Policies"]}


# --- the shipped catalogue, enforced ----------------------------------------------------------------------


def test_read_only_access_reads_everything_and_changes_nothing(iamd: Server) -> None:
    iamd.client("iam").create_user(UserName="other")
    reader = user_with_policy(iamd, "reader", READ_ONLY)
    allowed(reader.list_users)
    allowed(reader.get_user, UserName="other")  # iam:Get*
    allowed(reader.get_account_authorization_details)
    allowed(reader.generate_credential_report)  # iam:Generate*
    assert denied(reader.create_user, UserName="x") == (
        f"User: arn:aws:iam::{ACCOUNT_ID}:user/reader is not authorized to perform: iam:CreateUser on resource: "
        f"arn:aws:iam::{ACCOUNT_ID}:user/x because no identity-based policy allows the iam:CreateUser action"
    )
    denied(reader.attach_user_policy, UserName="reader", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")


def test_view_only_access_lists_but_does_not_read(iamd: Server) -> None:
    iamd.client("iam").create_user(UserName="other")
    viewer = user_with_policy(iamd, "viewer", VIEW_ONLY)
    allowed(viewer.list_users)  # iam:List*
    allowed(viewer.list_policies, Scope="AWS", MaxItems=1)
    allowed(viewer.get_account_summary)
    # The job-function policy grants no iam:Get* beyond GetAccountSummary and GetLoginProfile.
    denied(viewer.get_user, UserName="other")
    denied(viewer.get_account_authorization_details)
    denied(viewer.generate_credential_report)
    denied(viewer.create_user, UserName="x")


def test_security_audit_reads_security_configuration(iamd: Server) -> None:
    auditor = user_with_policy(iamd, "auditor", SECURITY_AUDIT)
    allowed(auditor.get_account_authorization_details)
    allowed(auditor.generate_credential_report)
    allowed(
        auditor.simulate_principal_policy,
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT_ID}:user/auditor",
        ActionNames=["iam:CreateUser"],
    )
    allowed(auditor.list_policies, Scope="Local")
    allowed(auditor.get_user, UserName="auditor")
    denied(auditor.create_user, UserName="x")
    denied(auditor.delete_user, UserName="auditor")


def test_support_access_grants_no_iam(iamd: Server) -> None:
    support = user_with_policy(iamd, "support", SUPPORT)
    denied(support.list_users)


def test_view_only_access_exists_only_as_a_job_function(iam: Any) -> None:
    policy = iam.get_policy(PolicyArn=VIEW_ONLY)["Policy"]
    assert (policy["PolicyName"], policy["Path"], policy["PolicyId"]) == (
        "ViewOnlyAccess",
        "/job-function/",
        "ANPAID22R6XPJATWOFDK6",
    )
    with pytest.raises(ClientError) as exc:
        iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/ViewOnlyAccess")
    assert exc.value.response["Error"]["Code"] == "NoSuchEntity"
    job_functions = {p["PolicyName"] for p in iam.list_policies(Scope="AWS", PathPrefix="/job-function/")["Policies"]}
    assert job_functions == {
        "AWSManagementConsoleAdministratorAccess",
        "Billing",
        "DataScientist",
        "DatabaseAdministrator",
        "NetworkAdministrator",
        "SupportUser",
        "SystemAdministrator",
        "ViewOnlyAccess",
    }


# --- importing ------------------------------------------------------------------------------------------------


def export_with_newer_version() -> dict[str, Any]:
    """The real export plus a hypothetical v6 of IAMUserChangePassword that also allows GetAccountSummary."""
    data: dict[str, Any] = json.loads(EXPORT.read_text())
    entry = next(p for p in data["Policies"] if p["PolicyName"] == "IAMUserChangePassword")
    v5 = entry["PolicyVersionList"][0]
    v5["IsDefaultVersion"] = False
    document = copy.deepcopy(v5["Document"])
    document["Statement"].append({"Effect": "Allow", "Action": "iam:GetAccountSummary", "Resource": "*"})
    entry["PolicyVersionList"].insert(
        0, {"Document": document, "VersionId": "v6", "IsDefaultVersion": True, "CreateDate": "2030-01-02T03:04:05Z"}
    )
    entry.update(DefaultVersionId="v6", UpdateDate="2030-01-02T03:04:05+00:00")
    return data


def import_file(iamd: Server, path: Path, *options: str) -> dict[str, Any]:
    proc = iamd.cli("policies", "import-aws-managed", str(path), *options)
    assert proc.returncode == 0, proc.stderr
    summary: dict[str, Any] = json.loads(proc.stdout)
    return summary


def test_imported_policies_and_versions_are_served(iamd: Server, iam: Any, tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export_with_newer_version()))
    summary = import_file(iamd, path)
    assert (summary["Added"], summary["Updated"], summary["VersionsAdded"]) == (2, 3, 11)

    policies = all_aws_policies(iam)
    assert policies[SSM_ROLE]["DefaultVersionId"] == "v8"
    assert policies[SSM_ROLE]["PolicyId"] == "ANPAI6TL3SMY22S4KMMX6"
    assert policies[CONFIG_ROLE]["IsAttachable"] is False
    assert policies[CHANGE_PASSWORD]["DefaultVersionId"] == "v6"

    change = iam.get_policy(PolicyArn=CHANGE_PASSWORD)["Policy"]
    assert change["UpdateDate"].isoformat() == "2030-01-02T03:04:05+00:00"
    versions = iam.list_policy_versions(PolicyArn=CHANGE_PASSWORD)["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == [
        ("v6", True),
        ("v5", False),
        ("v4", False),
        ("v3", False),
        ("v2", False),
    ]
    v6 = iam.get_policy_version(PolicyArn=CHANGE_PASSWORD, VersionId="v6")["PolicyVersion"]
    assert v6["Document"]["Statement"][-1]["Action"] == "iam:GetAccountSummary"
    s3_v1 = iam.get_policy_version(PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", VersionId="v1")
    assert s3_v1["PolicyVersion"]["Document"]["Statement"][0]["Action"] == ["s3:Get*", "s3:List*"]
    assert s3_v1["PolicyVersion"]["CreateDate"].isoformat() == "2015-02-06T18:40:59+00:00"

    # The new default version is the one enforced.
    user = user_with_policy(iamd, "changer", CHANGE_PASSWORD)
    allowed(user.get_account_summary)
    denied(user.list_users)
    # Imported policies attach like shipped ones; the file's IsAttachable is honoured.
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName="ec2", AssumeRolePolicyDocument=json.dumps(trust))
    iam.attach_role_policy(RoleName="ec2", PolicyArn=SSM_ROLE)
    attached = iam.list_attached_role_policies(RoleName="ec2")["AttachedPolicies"]
    assert attached == [{"PolicyName": "AmazonEC2RoleforSSM", "PolicyArn": SSM_ROLE}]
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName="ec2", PolicyArn=CONFIG_ROLE)
    assert exc.value.response["Error"]["Code"] == "PolicyNotAttachable"

    # Importing again changes nothing.
    again = import_file(iamd, path)
    assert (again["Added"], again["Updated"], again["Unchanged"], again["VersionsAdded"]) == (0, 0, 5, 0)


def test_our_own_export_imports_back_unchanged(iamd: Server, iam: Any, tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export_with_newer_version()))
    import_file(iamd, path)
    iam.create_user(UserName="u")
    for arn in (CHANGE_PASSWORD, SSM_ROLE, READ_ONLY):
        iam.attach_user_policy(UserName="u", PolicyArn=arn)
    exported = iamd.aws("iam", "get-account-authorization-details", "--filter", "AWSManagedPolicy")
    assert len(exported["Policies"]) == 3
    round_trip = tmp_path / "round-trip.json"
    round_trip.write_text(json.dumps(exported))
    summary = import_file(iamd, round_trip, "--only-attachable")
    assert (summary["PoliciesInFile"], summary["Unchanged"], summary["VersionsAdded"]) == (3, 3, 0)


def test_a_file_with_a_customer_policy_is_refused_whole(iamd: Server, iam: Any, tmp_path: Path) -> None:
    data = export_with_newer_version()
    data["Policies"][1]["Arn"] = f"arn:aws:iam::{ACCOUNT_ID}:policy/AmazonS3ReadOnlyAccess"
    path = tmp_path / "export.json"
    path.write_text(json.dumps(data))
    before = all_aws_policies(iam)
    proc = iamd.cli("policies", "import-aws-managed", str(path))
    assert proc.returncode == 1
    assert f"arn:aws:iam::{ACCOUNT_ID}:policy/AmazonS3ReadOnlyAccess is a customer managed policy" in proc.stderr
    assert "nothing was imported" in proc.stderr
    assert all_aws_policies(iam) == before
    assert SSM_ROLE not in before


def test_a_dev_reset_returns_to_the_shipped_catalogue(iamd: Server, iam: Any, tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export_with_newer_version()))
    import_file(iamd, path)
    iamd.reset()
    assert SSM_ROLE not in all_aws_policies(iam)
    versions = iam.list_policy_versions(PolicyArn=CHANGE_PASSWORD)["Versions"]
    assert [v["VersionId"] for v in versions] == ["v5"]


@contextlib.contextmanager
def fresh_store(request: pytest.FixtureRequest, backend: str) -> Iterator[str | None]:
    if backend == "postgresql":
        request.getfixturevalue("pg_url")  # skips when PostgreSQL is not wanted
        with postgres_database() as url:
            yield url
    else:
        yield None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_imported_newer_versions_survive_a_restart(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export_with_newer_version()))
    with fresh_store(request, backend) as url:
        first = start_server(tmp_path / "data", url)
        try:
            import_file(first, path)
        finally:
            first.stop()
        second = start_server(tmp_path / "data", url)
        try:
            iam = second.client("iam")
            assert iam.get_policy(PolicyArn=CHANGE_PASSWORD)["Policy"]["DefaultVersionId"] == "v6"
            assert len(iam.list_policy_versions(PolicyArn=CHANGE_PASSWORD)["Versions"]) == 5
            assert iam.get_policy(PolicyArn=SSM_ROLE)["Policy"]["DefaultVersionId"] == "v8"
        finally:
            second.stop()
