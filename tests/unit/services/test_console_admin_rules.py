"""Pure parts of the console's administration pages: the editor's positions, the assume-role walk
and its drawing, the version diff, ARNs that wrap."""

from __future__ import annotations

import json
import re

from iamd.services.console import access, policy_check
from iamd.web.console.admin import _back, breakable

ACCT = "123456789012"


def entity(kind: str, name: str) -> access.Entity:
    return access.Entity(kind, name, f"arn:aws:iam::{ACCT}:{kind}/{name}", f"ID{name.upper()}")


def test_json_syntax_error_points_at_the_parser_position() -> None:
    found = policy_check.check('{\n  "Version": "2012-10-17",\n  "Statement": [,]\n}', "managed")
    assert (found.ok, found.code, found.line, found.column) == (False, "MalformedPolicyDocument", 3, 17)


def test_grammar_error_points_at_the_first_failing_statement() -> None:
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:GetObject"},
        ],
    }
    text = json.dumps(doc, indent=2)
    found = policy_check.check(text, "managed")
    lines = text.split("\n")
    third = [i for i, line in enumerate(lines, 1) if line.strip() == "{"][-1]
    assert (found.ok, found.line, found.column) == (False, third, lines[third - 1].index("{") + 1)
    assert found.message == "Policy statement must contain resources."


def test_kinds_apply_their_own_rules() -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    assert policy_check.check(json.dumps(trust), "trust").ok
    assert not policy_check.check(json.dumps(trust), "managed").ok  # no Principal in identity policies
    no_version = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    assert policy_check.check(json.dumps(no_version), "user").ok
    assert not policy_check.check(json.dumps(no_version), "managed").ok  # managed policies need 2012-10-17


def test_walk_follows_chains_both_ways() -> None:
    alice, bob, hop, target, other = (
        entity("user", "alice"),
        entity("user", "bob"),
        entity("role", "hop"),
        entity("role", "target"),
        entity("role", "other"),
    )
    edges = [(alice, hop), (hop, target), (bob, other)]
    back = access._walk(target, edges, backwards=True)
    assert back.paths == [["role hop", "role target"], ["user alice", "role hop", "role target"]]
    assert set(back.depth) == {target.arn, hop.arn, alice.arn}
    forward = access._walk(alice, edges, backwards=False)
    assert forward.paths == [["user alice", "role hop"], ["user alice", "role hop", "role target"]]
    graph = access._graph("t", back, reverse=True)
    assert graph.svg.startswith("<svg") and graph.svg.endswith("</svg>")
    assert 'data-from="user alice" data-to="role hop"' in graph.svg
    assert "bob" not in graph.svg and "other" not in graph.svg
    # columns: alice (2 hops away) on the left, the target on the right
    columns = {name: column for _, name, column in graph.nodes}
    assert columns == {"alice": 0, "hop": 1, "target": 2}


def test_cycles_end() -> None:
    a, b = entity("role", "a"), entity("role", "b")
    walk = access._walk(a, [(a, b), (b, a)], backwards=False)
    assert walk.paths == [["role a", "role b"]]


def test_graph_escapes_names() -> None:
    odd = access.Entity("user", "x", f"arn:aws:iam::{ACCT}:user/a<b>&c", "ID")
    role = entity("role", "r")
    svg = access._graph("t", access._walk(role, [(odd, role)], backwards=True), reverse=True).svg
    assert "<b>" not in svg and "a&lt;b&gt;&amp;c" in svg


def test_diff_of_two_versions() -> None:
    old = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "a:B", "Resource": "*"}]})
    new = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "a:C", "Resource": "*"}]})
    changed = [(tag, line.strip()) for tag, line in access.diff(old, new) if tag != " "]
    assert changed == [("-", '"Action": "a:B",'), ("+", '"Action": "a:C",')]


def test_redirect_targets_and_breakable_arns() -> None:
    assert _back("/console/user?{UserName}", {"UserName": "a+b@c"}) == "/console/user?name=a%2Bb%40c"
    assert _back("/console/policy?{PolicyArn}", {"PolicyArn": "arn:aws:iam::aws:policy/X"}) == (
        "/console/policy?arn=arn%3Aaws%3Aiam%3A%3Aaws%3Apolicy%2FX"
    )
    html = str(breakable("arn:aws:iam::1:user/<x>"))
    assert html == "arn:<wbr>aws:<wbr>iam:<wbr>:<wbr>1:<wbr>user/<wbr>&lt;x&gt;"
    assert re.sub(r"<wbr>", "", html) == "arn:aws:iam::1:user/&lt;x&gt;"


def test_principals_outside_the_account_stand_before_the_role() -> None:
    role = entity("role", "ci")
    alone = access._graph("t", access._walk(role, [], backwards=True), reverse=True, external=["service ec2"])
    assert {(kind, name, column) for kind, name, column in alone.nodes} == {
        ("external", "service ec2", 0),
        ("role", "ci", 1),
    }
    assert 'data-from="service ec2" data-to="role ci"' in alone.svg and 'stroke-dasharray="5 4"' in alone.svg
    alice = entity("user", "alice")
    both = access._graph(
        "t", access._walk(role, [(alice, role)], backwards=True), reverse=True, external=["provider idp"]
    )
    columns = {name: column for _, name, column in both.nodes}
    assert columns == {"alice": 0, "provider idp": 0, "ci": 1}


def test_trusted_principals_outside_the_account_get_short_labels() -> None:
    role = entity("role", "r")
    role.trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {
                        "AWS": [f"arn:aws:iam::{ACCT}:root", "111122223333", "arn:aws:iam::111122223333:user/x/bob"],
                        "Service": "ec2.amazonaws.com",
                        "Federated": f"arn:aws:iam::{ACCT}:saml-provider/corp",
                    },
                    "Action": "sts:AssumeRole",
                },
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCT}:user/alice"},
                    "Action": "sts:AssumeRole",
                },
                {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"},
            ],
        }
    )
    found = access.Principals([entity("user", "alice")], [], [role])
    assert access.external_trust(role, found) == [
        f"account {ACCT}",
        "account 111122223333",
        "user bob (111122223333)",
        "service ec2.amazonaws.com",
        "provider corp",
    ]
