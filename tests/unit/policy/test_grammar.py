"""The policy grammar and IAM's MalformedPolicyDocument messages, check by check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iamd.core.errors import LimitExceeded, MalformedPolicyDocument
from iamd.policy import grammar as g
from iamd.policy.document import check_document
from iamd.policy.grammar import PolicyKind, parse_policy, statement_lines
from iamd.policy.operators import BASE_OPERATORS

ACCOUNT = "123456789012"


def doc(*statements: dict[str, Any], version: str | None = "2012-10-17", **top: Any) -> str:
    body: dict[str, Any] = {}
    if version is not None:
        body["Version"] = version
    body.update(top)
    body["Statement"] = list(statements)
    return json.dumps(body)


def ok(**extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", **extra}


def trust(**extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole", **extra}


def message_of(text: str, kind: PolicyKind) -> str:
    with pytest.raises(MalformedPolicyDocument) as exc:
        parse_policy(text, kind)
    return exc.value.message


M, ID, T, R = PolicyKind.MANAGED, PolicyKind.IDENTITY, PolicyKind.TRUST, PolicyKind.RESOURCE

MALFORMED = [
    ("not json", "{", ID, g.SYNTAX),
    ("duplicate keys", '{"Version": "2012-10-17", "Version": "2012-10-17", "Statement": []}', ID, g.SYNTAX),
    ("NaN", doc(ok(Condition={"NumericEquals": {"a:b": float("nan")}})), ID, g.SYNTAX),
    ("top-level array", "[]", ID, g.SYNTAX),
    ("unknown top-level element", doc(ok(), Extra="x"), ID, g.SYNTAX),
    ("unknown version", doc(ok(), version="2013-01-01"), ID, g.SYNTAX),
    ("version not a string", json.dumps({"Version": 2012, "Statement": [ok()]}), ID, g.SYNTAX),
    ("managed policy without Version", doc(ok(), version=None), M, g.VERSION_REQUIRED),
    ("managed policy with Version 2008-10-17", doc(ok(), version="2008-10-17"), M, g.VERSION_REQUIRED),
    ("Id not a string", doc(ok(), Id=5), ID, g.SYNTAX),
    ("no Statement", json.dumps({"Version": "2012-10-17"}), ID, g.SYNTAX),
    ("empty Statement list", doc(), M, g.SYNTAX),
    ("empty Statement list in a trust policy", doc(), T, g.SYNTAX),
    ("statement not an object", json.dumps({"Statement": ["x"]}), ID, g.SYNTAX),
    ("unknown statement element", doc(ok(Bogus=1)), ID, g.SYNTAX),
    ("Action with NotAction", doc(ok(NotAction="s3:Put*")), ID, g.SYNTAX),
    ("Resource with NotResource", doc(ok(NotResource="arn:aws:s3:::b")), ID, g.SYNTAX),
    ("Principal with NotPrincipal", doc(ok(Principal="*", NotPrincipal={"AWS": ACCOUNT})), R, g.SYNTAX),
    ("missing Effect", doc({"Action": "s3:*", "Resource": "*"}), ID, g.SYNTAX),
    ("unknown Effect", doc(ok(Effect="Maybe")), ID, g.SYNTAX),
    ("Effect not a string", doc(ok(Effect=True)), ID, g.SYNTAX),
    ("Effect in the wrong case", doc(ok(Effect="allow")), ID, g.LEGACY),
    ("Action list with a number", doc(ok(Action=["s3:GetObject", 5])), ID, g.SYNTAX),
    ("Action an object", doc(ok(Action={"s3": "x"})), ID, g.SYNTAX),
    ("Sid not a string", doc(ok(Sid=1)), ID, g.SYNTAX),
    ("duplicate Sids", doc(ok(Sid="A"), ok(Sid="A")), ID, g.SID_UNIQUE),
    ("Sid with a space", doc(ok(Sid="My statement")), ID, g.SID_ALNUM),
    ("no Action", doc({"Effect": "Allow", "Resource": "*"}), ID, g.NO_ACTIONS),
    ("empty Action list", doc(ok(Action=[])), ID, g.NO_ACTIONS),
    ("empty NotAction list", doc({"Effect": "Allow", "NotAction": [], "Resource": "*"}), ID, g.NO_ACTIONS),
    ("no Resource", doc({"Effect": "Allow", "Action": "s3:*"}), ID, g.NO_RESOURCES),
    ("empty Resource list", doc(ok(Resource=[])), ID, g.NO_RESOURCES),
    ("Principal in an identity policy", doc(ok(Principal="*")), M, g.NO_PRINCIPAL_ALLOWED),
    ("NotPrincipal in an identity policy", doc(ok(NotPrincipal={"AWS": ACCOUNT})), ID, g.NO_PRINCIPAL_ALLOWED),
    ("Principal in an SCP", doc(ok(Principal="*")), PolicyKind.SCP, g.NO_PRINCIPAL_ALLOWED),
    ("trust policy without Principal", doc({"Effect": "Allow", "Action": "sts:AssumeRole"}), T, g.PRINCIPAL_REQUIRED),
    ("trust policy with Resource", doc(trust(Resource="*")), T, g.RESOURCE_PROHIBITED),
    ("trust policy with a non-STS action", doc(trust(Action="s3:GetObject")), T, g.TRUST_ACTIONS),
    ("resource policy without Principal", doc(ok()), R, g.PRINCIPAL_REQUIRED),
    ("Principal a string other than *", doc(trust(Principal="everyone")), T, g.SYNTAX),
    ("Principal with an unknown type", doc(trust(Principal={"User": "x"})), T, g.SYNTAX),
    ("Principal an empty object", doc(trust(Principal={})), T, g.SYNTAX),
    ("Principal with an empty list", doc(trust(Principal={"AWS": []})), T, g.SYNTAX),
    ("Condition not an object", doc(ok(Condition="x")), ID, g.SYNTAX),
    ("Condition operator block not an object", doc(ok(Condition={"StringEquals": "x"})), ID, g.SYNTAX),
    ("unknown condition operator", doc(ok(Condition={"StringEqualz": {"a:b": "c"}})), ID, g.SYNTAX),
    ("Null cannot take IfExists", doc(ok(Condition={"NullIfExists": {"a:b": "true"}})), ID, g.SYNTAX),
    ("unknown set qualifier", doc(ok(Condition={"ForSomeValues:StringEquals": {"a:b": "c"}})), ID, g.SYNTAX),
    ("operator names are case-sensitive", doc(ok(Condition={"stringequals": {"a:b": "c"}})), ID, g.SYNTAX),
    ("condition value null", doc(ok(Condition={"StringEquals": {"a:b": None}})), ID, g.SYNTAX),
    ("condition value an object", doc(ok(Condition={"StringEquals": {"a:b": {"c": "d"}}})), ID, g.SYNTAX),
    ("condition value a nested list", doc(ok(Condition={"StringEquals": {"a:b": [["c"]]}})), ID, g.SYNTAX),
    ("invalid date value", doc(ok(Condition={"DateLessThan": {"aws:CurrentTime": "tomorrow"}})), ID, g.LEGACY),
    ("invalid month in a date", doc(ok(Condition={"DateLessThan": {"aws:CurrentTime": "2024-13-01"}})), ID, g.LEGACY),
    ("Boolean as a date", doc(ok(Condition={"DateEquals": {"aws:CurrentTime": True}})), ID, g.LEGACY),
    ("action without a vendor", doc(ok(Action="GetObject")), ID, g.NO_VENDOR),
    ("action with two colons", doc(ok(Action="s3:Get:Object")), ID, g.ONE_COLON),
    ("action vendor with a space", doc(ok(Action="s 3:GetObject")), ID, "Vendor s 3 is not valid"),
    ("action vendor with a wildcard", doc(ok(Action="s3*:GetObject")), ID, "Vendor s3* is not valid"),
    ("resource not an ARN", doc(ok(Resource="bucket")), ID, 'Resource bucket must be in ARN format or "*".'),
    ("resource failing legacy parsing", doc(ok(Resource="arn:aws:s3::bucket")), ID, g.LEGACY),
    (
        "resource with an unknown partition",
        doc(ok(Resource="arn:foo:s3:::b")),
        ID,
        'Partition "foo" is not valid for resource "arn:foo:s3:::b".',
    ),
    ("resource without a service", doc(ok(Resource="arn:aws::::x")), ID, g.LEGACY),
    ("resource without a service part", doc(ok(Resource="arn:aws")), ID, g.VENDOR_REGEX),
    ("resource with a wildcard service", doc(ok(Resource="arn:aws:s*:::x")), ID, g.VENDOR_REGEX),
    (
        "IAM resource with a region",
        doc(ok(Resource=f"arn:aws:iam:us-east-1:{ACCOUNT}:user/x")),
        ID,
        f"IAM resource arn:aws:iam:us-east-1:{ACCOUNT}:user/x cannot contain region information.",
    ),
    (
        "S3 resource with a region",
        doc(ok(Resource="arn:aws:s3:us-east-1::b")),
        ID,
        "Resource arn:aws:s3:us-east-1::b can not contain region information.",
    ),
    (
        "IAM resource of an unknown type",
        doc(ok(Resource=f"arn:aws:iam::{ACCOUNT}:bogus/x")),
        ID,
        'IAM resource path must either be "*", root, or start with ' + ", ".join(g.IAM_RESOURCE_PREFIXES) + ".",
    ),
    (
        "IAM resource path with a wildcard type",
        doc(ok(Resource=f"arn:aws:iam::{ACCOUNT}:*role/x")),
        ID,
        'IAM resource path must either be "*", root, or start with ' + ", ".join(g.IAM_RESOURCE_PREFIXES) + ".",
    ),
    (
        "NotResource is checked like Resource",
        doc({"Effect": "Allow", "Action": "s3:*", "NotResource": "b"}),
        ID,
        'Resource b must be in ARN format or "*".',
    ),
    (
        "AWS principal that is not an ARN or account",
        doc(trust(Principal={"AWS": "bob"})),
        T,
        'Invalid principal in policy: "AWS":"bob"',
    ),
    (
        "AWS principal with a partial wildcard",
        doc(trust(Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:user/*"})),
        T,
        f'Invalid principal in policy: "AWS":"arn:aws:iam::{ACCOUNT}:user/*"',
    ),
    (
        "service principal without a domain",
        doc(trust(Principal={"Service": "ec2"})),
        T,
        'Invalid principal in policy: "Service":"ec2"',
    ),
    ("RCP principal other than *", doc(ok(Principal={"AWS": ACCOUNT})), PolicyKind.RCP, g.SYNTAX),
    (
        "RCP with NotAction",
        doc({"Effect": "Deny", "Principal": "*", "NotAction": "s3:*", "Resource": "*"}),
        PolicyKind.RCP,
        g.SYNTAX,
    ),
]


@pytest.mark.parametrize(("name", "text", "kind", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed(name: str, text: str, kind: PolicyKind, message: str) -> None:
    assert message_of(text, kind) == message


VALID = [
    ("empty Statement list for evaluation (allows nothing)", doc(), ID),
    ("single statement object", json.dumps({"Version": "2012-10-17", "Statement": ok()}), M),
    ("inline policy without Version", doc(ok(), version=None), PolicyKind.USER_INLINE),
    ("inline policy with Version 2008-10-17", doc(ok(), version="2008-10-17"), PolicyKind.ROLE_INLINE),
    ("Id element", doc(ok(), Id="my-policy"), M),
    ("empty Sid", doc(ok(Sid=""), ok(Sid="")), M),
    ("NotAction and NotResource", doc({"Effect": "Deny", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::b/*"}), M),
    ("every action wildcard form", doc(ok(Action=["*", "s3:*", "s3:Get*", "iam:*AccessKey*", "s3:Get?bject"])), M),
    (
        "resource forms",
        doc(
            ok(Resource=["*", "arn:aws:s3:::b/*", "arn:*:s3:::b", f"arn:aws:iam::{ACCOUNT}:*", "arn:aws:iam::*:user/*"])
        ),
        M,
    ),
    ("IAM resource root and *", doc(ok(Resource=[f"arn:aws:iam::{ACCOUNT}:root", "arn:aws:iam::*:*"])), M),
    ("resource with a variable", doc(ok(Resource="arn:aws:s3:::b/home/${aws:username}/*")), M),
    (
        "numeric and Boolean condition values",
        doc(ok(Condition={"NumericLessThan": {"s3:max-keys": 10}, "Bool": {"aws:SecureTransport": False}})),
        M,
    ),
    ("empty condition value list", doc(ok(Condition={"StringEquals": {"a:b": []}})), M),
    ("epoch date value", doc(ok(Condition={"DateGreaterThan": {"aws:EpochTime": 1700000000}})), M),
    (
        "date forms",
        doc(
            ok(
                Condition={
                    "DateLessThan": {
                        "aws:CurrentTime": [
                            "2024",
                            "2024-05",
                            "2024-05-01",
                            "2024-05-01T10:00Z",
                            "2024-05-01T10:00:00.123+02:00",
                        ]
                    }
                }
            )
        ),
        M,
    ),
    (
        "trust policy principals",
        doc(
            trust(
                Principal={
                    "AWS": [
                        ACCOUNT,
                        f"arn:aws:iam::{ACCOUNT}:root",
                        f"arn:aws:iam::{ACCOUNT}:user/a/b",
                        f"arn:aws:iam::{ACCOUNT}:role/r",
                        f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s",
                        f"arn:aws:sts::{ACCOUNT}:federated-user/f",
                        "AIDAEXAMPLEUSERID0001",
                        "*",
                    ]
                }
            )
        ),
        T,
    ),
    (
        "trust policy services and federation",
        doc(
            trust(
                Principal={
                    "Service": ["ec2.amazonaws.com", "states.us-east-1.amazonaws.com"],
                    "Federated": ["accounts.google.com", f"arn:aws:iam::{ACCOUNT}:saml-provider/corp"],
                }
            ),
            trust(Action=["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]),
        ),
        T,
    ),
    ("trust policy Principal *", doc(trust(Principal="*")), T),
    ("trust policy with NotPrincipal", doc({"Effect": "Deny", "NotPrincipal": {"AWS": ACCOUNT}, "Action": "sts:*"}), T),
    ("resource policy without Resource", doc({"Effect": "Allow", "Principal": "*", "Action": "sns:Publish"}), R),
    ("resource policy Sid with spaces", doc(ok(Principal="*", Sid="Allow public read")), R),
    ("RCP full access", doc(ok(Principal="*", Action="*")), PolicyKind.RCP),
    ("SCP", doc(ok(Action="*"), {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"}), PolicyKind.SCP),
]


@pytest.mark.parametrize(("name", "text", "kind"), VALID, ids=[v[0] for v in VALID])
def test_valid(name: str, text: str, kind: PolicyKind) -> None:
    parse_policy(text, kind)


def test_every_documented_operator_form_is_accepted() -> None:
    forms = []
    for name in BASE_OPERATORS:
        for prefix in ("", "ForAnyValue:", "ForAllValues:"):
            forms.append(prefix + name)
            if name != "Null":
                forms.append(prefix + name + "IfExists")
    condition = {form: {"test:key": "1"} for form in forms if not form.split(":")[-1].startswith("Date")}
    condition.update({form: {"test:key": "2024-01-01"} for form in forms if form.split(":")[-1].startswith("Date")})
    policy = parse_policy(doc(ok(Condition=condition)), M)
    assert len(policy.statements[0].conditions) == len(forms) == 26 * 6 + 3


def test_model() -> None:
    text = doc(
        ok(Sid="Read", Condition={"StringLike": {"s3:prefix": ["a/*", 5, True]}}),
        {"Effect": "Deny", "NotAction": ["iam:*"], "NotResource": "arn:aws:s3:::b"},
    )
    policy = parse_policy(text, M)
    assert policy.version == "2012-10-17" and policy.variables
    first, second = policy.statements
    assert (first.index, first.sid, first.allow, first.actions, first.resources) == (
        0,
        "Read",
        True,
        ("s3:GetObject",),
        ("*",),
    )
    assert first.conditions[0].values == ("a/*", "5", "true")
    assert first.conditions[0].operator.base.name == "StringLike"
    assert (second.sid, second.effect, second.not_actions, second.not_resources) == (
        None,
        "Deny",
        ("iam:*",),
        ("arn:aws:s3:::b",),
    )
    spec = parse_policy(doc(trust(Principal={"AWS": "*", "Service": "ec2.amazonaws.com"})), T).statements[0].principal
    assert spec is not None and spec.everyone and spec.service == ("ec2.amazonaws.com",)
    assert not parse_policy(doc(ok(), version="2008-10-17"), ID).variables


def test_statement_lines() -> None:
    text = "\n".join(
        [
            "{",
            '  "Version": "2012-10-17",',
            '  "Statement": [',
            '    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},',
            "",
            "    {",
            '      "Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"',
            "    }",
            "  ]",
            "}",
        ]
    )
    assert statement_lines(text) == (4, 6)
    assert [s.line for s in parse_policy(text, M).statements] == [4, 6]
    single = '{"Statement":\n {"Effect": "Allow", "Action": "s3:*", "Resource": "*",'
    single += ' "Condition": {"StringEquals": {"a:b": "{[\\"x"}}}}'
    assert statement_lines(single) == (2,)
    parse_policy(single, ID)


def test_size_limits_and_messages() -> None:
    big = doc(ok(Action=[f"s3:GetObjectVersion{i:05d}" for i in range(300)]))
    with pytest.raises(LimitExceeded) as exc:
        check_document(big, M)
    assert exc.value.message == "Cannot exceed quota for PolicySize: 6144"
    with pytest.raises(LimitExceeded) as exc:
        check_document(doc(ok(Action=["s3:" + "x" * 2100])), PolicyKind.USER_INLINE, "bob")
    assert exc.value.message == "Maximum policy size of 2048 bytes exceeded for user bob"
    with pytest.raises(LimitExceeded) as exc:
        check_document(doc(trust(Condition={"StringEquals": {"sts:ExternalId": "x" * 2100}})), T)
    assert exc.value.message == "Cannot exceed quota for ACLSizePerRole: 2048"
    padded = json.dumps(json.loads(doc(ok(Action=["s3:" + "x" * 4000]))), indent=1) + " " * 2000
    check_document(padded, M)  # whitespace does not count for IAM
    with pytest.raises(LimitExceeded):
        check_document(padded, PolicyKind.SCP)  # every character counts for SCPs


def test_size_is_checked_before_the_grammar() -> None:
    with pytest.raises(LimitExceeded):
        check_document("x" * 7000, M)


def _table() -> list[dict[str, Any]]:
    """grammar_cases.json: documents IAM accepts or refuses, each citing the AWS page it follows."""
    path = Path(__file__).parent / "grammar_cases.json"
    cases: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["cases"]
    return cases


TABLE = _table()


def test_the_grammar_table_cites_a_rule_for_every_case() -> None:
    names = [case["name"] for case in TABLE]
    assert len(names) == len(set(names))
    assert all(case["rule"].strip() for case in TABLE)


@pytest.mark.parametrize("case", TABLE, ids=[case["name"] for case in TABLE])
def test_grammar_table(case: dict[str, Any]) -> None:
    text = json.dumps(case["document"])
    kind = PolicyKind(case["kind"])
    if case["expect"].get("valid"):
        parse_policy(text, kind)
        check_document(text, kind, "entity")
    else:
        assert message_of(text, kind) == case["expect"]["message"], case["rule"]
