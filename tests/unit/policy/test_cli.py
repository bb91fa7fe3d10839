"""``iamd policy evaluate`` / ``iamd policy validate``, run in-process."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest

from iamd.cli import policy_cmd
from iamd.cli.policy_cmd import main, register, run

A = "111122223333"
USER = f"arn:aws:iam::{A}:user/alice"
ALLOW_GET = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}],
}


def write(tmp_path: Path, data: Any, name: str = "request.json") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def evaluate_file(
    tmp_path: Path, request: Any, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, Any, str]:
    code = main(["policy", "evaluate", write(tmp_path, request), *extra])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def test_evaluate_allow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = {
        "principal": {"arn": USER},
        "action": "s3:GetObject",
        "resource": "arn:aws:s3:::b/k",
        "identity_policies": [ALLOW_GET],
    }
    code, out, err = evaluate_file(tmp_path, request, capsys)
    assert code == 0 and err == ""
    assert out["decision"] == "Allow"
    assert out["denied_by"] is None
    assert [(s["policy_id"], s["sid"], s["policy_type"]) for s in out["matched_statements"]] == [
        ("identity_policies[0]", "Read", "identity")
    ]
    assert "Read" in out["explanation"]
    assert "message" not in out


def test_evaluate_deny_prints_the_aws_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = {
        "principal": USER,
        "action": "s3:PutObject",
        "resource": "arn:aws:s3:::b/k",
        "identity_policies": [ALLOW_GET],
    }
    code, out, _ = evaluate_file(tmp_path, request, capsys)
    assert code == 0
    assert out["decision"] == "ImplicitDeny" and out["denied_by"] == "identity"
    assert out["message"] == (
        f"User: {USER} is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::b/k "
        "because no identity-based policy allows the s3:PutObject action"
    )
    code, _, _ = evaluate_file(tmp_path, request, capsys, "--exit-code")
    assert code == 1


def test_evaluate_everything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    session = f"arn:aws:sts::{A}:assumed-role/reader/job"
    request = {
        "principal": {"arn": session, "tags": {"team": "blue"}, "source_identity": "carol"},
        "action": "s3:GetObject",
        "resource": "arn:aws:s3:::shared/blue/file",
        "resource_account": "444455556666",
        "time": "2024-05-01T00:00:00Z",
        "context": {"aws:SourceIp": "10.0.0.1", "aws:TagKeys": ["a", "b"], "aws:SecureTransport": True},
        "identity_policies": [
            {"id": "arn:aws:iam::111122223333:policy/Read", "document": json.dumps(ALLOW_GET)},
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "Shared",
                        "Effect": "Allow",
                        "Action": "s3:*",
                        "Resource": "arn:aws:s3:::shared/${aws:PrincipalTag/team}/*",
                    }
                ],
            },
        ],
        "resource_policy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Cross",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{A}:role/reader"},
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::shared/*",
                }
            ],
        },
        "permissions_boundaries": [
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ],
        "session_policies": [
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:Get*",
                        "Resource": "*",
                        "Condition": {
                            "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
                            "DateLessThan": {"aws:CurrentTime": "2025-01-01"},
                        },
                    }
                ],
            }
        ],
        "service_control_policies": [
            [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}]
        ],
        "resource_control_policies": [
            [
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
                }
            ]
        ],
    }
    code, out, _ = evaluate_file(tmp_path, request, capsys, "--show-context")
    assert code == 0, out
    assert out["decision"] == "Allow"
    assert sorted(s["sid"] for s in out["matched_statements"]) == ["Cross", "Shared"]
    assert {s["policy_type"] for s in out["supporting_statements"]} == {"boundary", "session", "scp", "rcp"}
    context = out["context"]
    assert context["aws:PrincipalArn"] == f"arn:aws:iam::{A}:role/reader"
    assert context["aws:CurrentTime"] == "2024-05-01T00:00:00Z"
    assert context["aws:SourceIdentity"] == "carol"
    assert context["aws:TagKeys"] == ["a", "b"]
    assert context["aws:SecureTransport"] == "true"


def test_evaluate_from_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    request = {"principal": {"arn": A}, "action": "iam:CreateUser", "resource": f"arn:aws:iam::{A}:user/x"}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(request)))
    assert main(["policy", "evaluate", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["decision"] == "Allow"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"principal": None}, "principal"),
        ({"principal": {"arn": "bob"}}, "principal.arn"),
        ({"principal": {"arn": USER, "color": "red"}}, "principal.color"),
        ({"principal": {"arn": USER, "tags": {"a": 1}}}, "principal.tags"),
        ({"principal": {"arn": USER, "service_linked_role": "yes"}}, "principal.service_linked_role"),
        ({"principal": {"type": "Robot", "arn": "x"}}, "principal.type"),
        ({"principal": {"type": "WebIdentityUser"}}, "principal.federated_provider"),
        ({"action": None}, "action"),
        ({"action": ""}, "action"),
        ({"action": 5}, "action"),
        ({"resource": None}, "resource"),
        ({"colour": 1}, "colour"),
        ({"context": []}, "context"),
        ({"context": {"a:b": {"x": 1}}}, "context.a:b"),
        ({"identity_policies": {}}, "identity_policies"),
        ({"identity_policies": [5]}, "identity_policies[0]"),
        ({"identity_policies": [ALLOW_GET, {"Statement": [{}]}]}, "identity_policies[1]"),
        ({"identity_policies": [{"id": 5, "document": ALLOW_GET}]}, "identity_policies[0].id"),
        ({"identity_policies": [{"document": ALLOW_GET, "extra": 1}]}, "identity_policies[0].extra"),
        ({"resource_policy": ALLOW_GET}, "resource_policy"),
        ({"resource_policy_kind": "bucket"}, "resource_policy_kind"),
        ({"service_control_policies": [ALLOW_GET]}, "service_control_policies[0]"),
        ({"service_control_policies": [[{"Statement": "x"}]]}, "service_control_policies[0][0]"),
        ({"resource_control_policies": [[ALLOW_GET]]}, "resource_control_policies[0][0]"),
        ({"time": "tomorrow"}, "time"),
        ({"resource_policy_required": "yes"}, "resource_policy_required"),
    ],
)
def test_malformed_requests_name_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], field: str
) -> None:
    request: dict[str, Any] = {"principal": {"arn": USER}, "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k"}
    request.update(change)
    request = {k: v for k, v in request.items() if v is not None}
    code, out, err = evaluate_file(tmp_path, request, capsys)
    assert code == 2 and out is None
    assert err.startswith(f"iamd policy evaluate: {field}: "), err


def test_malformed_policy_reports_aws_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = {
        "principal": USER,
        "action": "s3:GetObject",
        "resource": "*",
        "identity_policies": [{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}],
    }
    code, _, err = evaluate_file(tmp_path, request, capsys)
    assert code == 2
    prefix = "iamd policy evaluate: identity_policies[0]: MalformedPolicyDocument: "
    assert err.strip() == prefix + "Policy statement must contain resources."


def test_unreadable_or_non_json_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "evaluate", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
    assert main(["policy", "evaluate", write(tmp_path, "{nope")]) == 2
    assert "not JSON" in capsys.readouterr().err
    assert main(["policy", "evaluate", write(tmp_path, "[]")]) == 2
    assert "request: must be a JSON object" in capsys.readouterr().err


def test_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, json.dumps(ALLOW_GET, indent=2), "good.json")
    assert main(["policy", "validate", good]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "valid": True,
        "kind": "managed",
        "statements": 1,
        "size": len(json.dumps(ALLOW_GET, separators=(",", ":"))),
    }
    no_version = write(tmp_path, json.dumps({"Statement": ALLOW_GET["Statement"]}), "old.json")
    assert main(["policy", "validate", no_version]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "valid": False,
        "kind": "managed",
        "error": "MalformedPolicyDocument",
        "message": "Policy document must be version 2012-10-17 or greater.",
    }
    assert main(["policy", "validate", "--kind", "user", no_version]) == 0
    capsys.readouterr()
    trust = write(tmp_path, json.dumps(ALLOW_GET), "trust.json")
    assert main(["policy", "validate", "--kind", "trust", trust]) == 2
    assert json.loads(capsys.readouterr().out)["message"] == "Has prohibited field Resource"
    big = write(
        tmp_path,
        json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:" + "x" * 3000, "Resource": "*"}]}
        ),
        "big.json",
    )
    assert main(["policy", "validate", "--kind", "user", "--entity", "bob", big]) == 2
    out = json.loads(capsys.readouterr().out)
    assert (out["error"], out["message"]) == (
        "LimitExceeded",
        "Maximum policy size of 2048 bytes exceeded for user bob",
    )
    assert main(["policy", "validate", str(tmp_path / "nothing.json")]) == 2


def test_register_and_run_with_another_parser(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="iamd")
    parser.add_argument("--data-dir")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve")
    register(sub)
    args = parser.parse_args(["policy", "validate", write(tmp_path, json.dumps(ALLOW_GET))])
    assert args.command == "policy"
    assert run(args) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True
    with pytest.raises(SystemExit):
        parser.parse_args(["policy"])


def test_load_request_is_usable_directly() -> None:
    request = policy_cmd.load_request({"principal": USER, "action": "s3:GetObject", "resource": "*"})
    assert request.principal.arn == USER and request.identity_policies == []


DENY_ALL = {"Version": "2012-10-17", "Statement": [{"Sid": "No", "Effect": "Deny", "Action": "*", "Resource": "*"}]}
ROLE = f"arn:aws:iam::{A}:role/ops/deployer"


def test_get_caller_identity_is_never_denied(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """STS API reference, GetCallerIdentity: no permission is needed, and an explicit deny does not stop it."""
    request = {"principal": USER, "action": "sts:GetCallerIdentity", "resource": "*", "identity_policies": [DENY_ALL]}
    code, out, _ = evaluate_file(tmp_path, request, capsys, "--exit-code")
    assert code == 0
    assert (out["decision"], out["denied_by"], out["matched_statements"]) == ("Allow", None, [])
    assert "never denies sts:GetCallerIdentity" in out["explanation"]
    request["action"] = "sts:GetSessionToken"
    code, out, _ = evaluate_file(tmp_path, request, capsys, "--exit-code")
    assert (code, out["decision"]) == (1, "ExplicitDeny")


@pytest.mark.parametrize("action", ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML"])
def test_assume_role_needs_the_trust_policy_in_the_same_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    identity = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:*", "Resource": "*"}]}
    request: dict[str, Any] = {"principal": USER, "action": action, "resource": ROLE, "identity_policies": [identity]}
    code, out, _ = evaluate_file(tmp_path, request, capsys)
    assert code == 0
    assert (out["decision"], out["denied_by"]) == ("ImplicitDeny", "resource")
    assert out["message"] == (
        f"User: {USER} is not authorized to perform: {action} on resource: {ROLE} "
        f"because no resource-based policy allows the {action} action"
    )
    # a trust policy (read with the trust grammar: no Resource) that delegates to the account
    request["resource_policy"] = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Acct", "Effect": "Allow", "Principal": {"AWS": A}, "Action": action}],
    }
    code, out, _ = evaluate_file(tmp_path, request, capsys)
    assert out["decision"] == "Allow"
    request["identity_policies"] = []
    code, out, _ = evaluate_file(tmp_path, request, capsys)
    assert (out["decision"], out["denied_by"]) == ("ImplicitDeny", "identity")


def test_kms_key_actions_need_the_key_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    identity = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
    request: dict[str, Any] = {
        "principal": USER,
        "action": "kms:Decrypt",
        "resource": key,
        "identity_policies": [identity],
    }
    _, out, _ = evaluate_file(tmp_path, request, capsys)
    assert (out["decision"], out["denied_by"]) == ("ImplicitDeny", "resource")
    request["resource_policy"] = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "EnableIAM", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*"}
        ],
    }
    _, out, _ = evaluate_file(tmp_path, request, capsys)
    assert out["decision"] == "Allow"
    # kms actions without a key (CreateKey on *) are ordinary identity-policy decisions
    _, out, _ = evaluate_file(
        tmp_path,
        {"principal": USER, "action": "kms:CreateKey", "resource": "*", "identity_policies": [identity]},
        capsys,
    )
    assert out["decision"] == "Allow"


def test_a_role_arn_is_evaluated_as_a_session_of_the_role(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """AWS's simulator accepts a role as the policy source; iamd evaluates a session of it."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnRole",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/${aws:PrincipalTag/team}/*",
                "Condition": {"StringEquals": {"aws:PrincipalArn": ROLE, "aws:PrincipalType": "AssumedRole"}},
            }
        ],
    }
    request = {
        "principal": {"arn": ROLE, "tags": {"team": "blue"}, "session_name": "ci-job"},
        "action": "s3:GetObject",
        "resource": "arn:aws:s3:::b/blue/k",
        "identity_policies": [policy],
    }
    code, out, _ = evaluate_file(tmp_path, request, capsys, "--show-context")
    assert (code, out["decision"]) == (0, "Allow")
    assert out["context"]["aws:PrincipalArn"] == ROLE
    request["action"] = "s3:PutObject"
    _, out, _ = evaluate_file(tmp_path, request, capsys)
    assert out["message"].startswith(
        f"User: arn:aws:sts::{A}:assumed-role/deployer/ci-job is not authorized to perform: s3:PutObject"
    )
    request["principal"] = {"arn": ROLE, "session_name": "x"}
    code, _, err = evaluate_file(tmp_path, request, capsys)
    assert code == 2 and err.startswith("iamd policy evaluate: principal.session_name: ")


def test_validate_accepts_what_iam_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "execute-api:Invoke",
                "Resource": ["arn:aws:test%3Aencoded%3Astring", None, f"arn:aws:s3:us-west-2:{A}:accesspoint/ap"],
                "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01"}, "Foo": {}, "StringEquals": {"a": "b"}},
            }
        ],
    }
    assert main(["policy", "validate", write(tmp_path, document)]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True
    empty_scp = write(tmp_path, {"Version": "2012-10-17", "Statement": []}, "scp.json")
    assert main(["policy", "validate", "--kind", "scp", empty_scp]) == 0
    capsys.readouterr()
    assert main(["policy", "validate", empty_scp]) == 2
    assert json.loads(capsys.readouterr().out)["message"] == "Syntax errors in policy."
    document["Version"] = "2013-10-17"
    assert main(["policy", "validate", write(tmp_path, document)]) == 2
    assert json.loads(capsys.readouterr().out)["message"] == "Syntax errors in policy."
