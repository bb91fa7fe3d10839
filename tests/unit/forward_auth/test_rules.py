"""Forward-auth rules: matching, templates, first match wins, line-precise errors, many rules."""

from __future__ import annotations

import re
import textwrap

import pytest

from iamd.forward_auth.rules import RulesError, load, parse

RULES = textwrap.dedent(
    """
    # documents service
    [vars]
    region = "eu-west-1"
    account = "123456789012"

    [[rule]]
    path = "/health"
    anonymous = true

    [[rule]]
    method = ["GET", "HEAD"]
    path = "/documents/{id}"
    action = "myapp:GetDocument"
    resource = "arn:aws:myapp:{region}:{account}:document/{id}"

    [[rule]]
    method = "DELETE"
    path = "/documents/{id}"
    action = "myapp:DeleteDocument"
    resource = "arn:aws:myapp:{region}:{account}:document/{id}"

    [[rule]]
    method = "GET"
    path = "/documents/{id}/v{version}.json"
    action = "myapp:GetDocumentVersion"
    resource = "arn:aws:myapp:{region}:{account}:document/{id}/version/{version}"

    [[rule]]
    path = "/files/{key**}"
    action = "myapp:{method}File"
    resource = "arn:aws:myapp:{region}:{account}:file/{key}"

    [[rule]]
    method = "GET"
    path = "/admin/*/settings"
    action = "myapp:ReadSettings"
    resource = "*"

    [[rule]]
    path = "/admin/**"
    action = "myapp:Admin"
    resource = "arn:aws:myapp:{region}:{account}:admin"
    """
)


@pytest.fixture(scope="module")
def rules():  # type: ignore[no-untyped-def]
    return parse(RULES)


@pytest.mark.parametrize(
    ("method", "path", "action", "resource"),
    [
        ("GET", "/documents/42", "myapp:GetDocument", "arn:aws:myapp:eu-west-1:123456789012:document/42"),
        ("head", "/documents/42?x=1", "myapp:GetDocument", "arn:aws:myapp:eu-west-1:123456789012:document/42"),
        ("DELETE", "/documents/a%20b", "myapp:DeleteDocument", "arn:aws:myapp:eu-west-1:123456789012:document/a b"),
        (
            "GET",
            "/documents/7/v3.json",
            "myapp:GetDocumentVersion",
            "arn:aws:myapp:eu-west-1:123456789012:document/7/version/3",
        ),
        ("PUT", "/files/a/b/c.txt", "myapp:PUTFile", "arn:aws:myapp:eu-west-1:123456789012:file/a/b/c.txt"),
        ("GET", "/files", "myapp:GETFile", "arn:aws:myapp:eu-west-1:123456789012:file/"),
        ("GET", "/admin/x/settings", "myapp:ReadSettings", "*"),
        ("POST", "/admin/x/settings", "myapp:Admin", "arn:aws:myapp:eu-west-1:123456789012:admin"),
        ("GET", "/admin", "myapp:Admin", "arn:aws:myapp:eu-west-1:123456789012:admin"),
    ],
)
def test_requests_map_to_action_and_resource(rules, method: str, path: str, action: str, resource: str) -> None:  # type: ignore[no-untyped-def]
    match = rules.match(method, path)
    assert match is not None
    assert (match.action, match.resource) == (action, resource)


def test_anonymous_rules_and_unmatched_requests(rules) -> None:  # type: ignore[no-untyped-def]
    health = rules.match("GET", "/health")
    assert health is not None and health.anonymous
    assert rules.match("POST", "/documents/42") is None
    assert rules.match("GET", "/documents") is None
    assert rules.match("GET", "/documents/42/extra") is None
    assert rules.match("GET", "/nothing") is None


def test_an_encoded_slash_never_fills_one_segment(rules) -> None:  # type: ignore[no-untyped-def]
    assert rules.match("GET", "/documents/a%2Fb") is None
    assert rules.match("GET", "/documents//") is None
    files = rules.match("GET", "/files/a%2Fb")
    assert files is not None and files.captures == {"key": "a/b"}


def test_the_first_matching_rule_wins() -> None:
    rules = parse(
        textwrap.dedent(
            """
            [[rule]]
            path = "/a/{x}"
            action = "s:First"
            resource = "*"
            [[rule]]
            path = "/a/b"
            action = "s:Second"
            resource = "*"
            [[rule]]
            path = "/**"
            action = "s:Last"
            resource = "*"
            """
        )
    )
    assert rules.match("GET", "/a/b").action == "s:First"  # type: ignore[union-attr]
    assert rules.match("GET", "/a/b/c").action == "s:Last"  # type: ignore[union-attr]
    assert rules.match("GET", "/").action == "s:Last"  # type: ignore[union-attr]


def test_method_restrictions_fall_through_to_later_rules() -> None:
    rules = parse(
        textwrap.dedent(
            """
            [[rule]]
            method = "POST"
            path = "/x"
            action = "s:Post"
            resource = "*"
            [[rule]]
            path = "/x"
            action = "s:Any"
            resource = "*"
            """
        )
    )
    assert rules.match("POST", "/x").action == "s:Post"  # type: ignore[union-attr]
    assert rules.match("GET", "/x").action == "s:Any"  # type: ignore[union-attr]


def test_many_rules_match_like_a_linear_scan() -> None:
    lines = []
    for i in range(2000):
        lines += [
            "[[rule]]",
            f'path = "/svc{i}/items/{{id}}"',
            f'action = "s:Get{i}"',
            'resource = "arn:aws:s:::item/{id}"',
        ]
    lines += ["[[rule]]", 'path = "/svc7/**"', 'action = "s:Catch"', 'resource = "*"']
    rules = parse("\n".join(lines))
    assert rules.match("GET", "/svc1999/items/x").action == "s:Get1999"  # type: ignore[union-attr]
    assert rules.match("GET", "/svc7/items/x").action == "s:Get7"  # type: ignore[union-attr]
    assert rules.match("GET", "/svc7/other").action == "s:Catch"  # type: ignore[union-attr]
    assert rules.match("GET", "/svc2000/items/x") is None
    # against a brute-force reference on many paths
    import random

    rng = random.Random(7)
    reference = [(r, _brute(r.path)) for r in rules.rules]
    for _ in range(300):
        n = rng.randrange(2100)
        path = rng.choice([f"/svc{n}/items/{n}", f"/svc{n}/other", f"/svc{n}/items", "/svc7/x/y"])
        got = rules.match("GET", path)
        expected = next((r for r, regex in reference if regex.match(path)), None)
        assert (got.rule.index if got else None) == (expected.index if expected else None), path


def _brute(pattern: str) -> re.Pattern[str]:
    regex = "^" + re.sub(r"\\\{[a-z]+\\\}", "[^/]+", re.escape(pattern)).replace(r"/\*\*", "(/.*)?") + "$"
    return re.compile(regex)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[[rule]]\npath = 'x'\naction = 's:A'\nresource = '*'\n",
            "rules.toml:2: rule 1: path must be a string starting with /",
        ),
        ("[[rule]]\npath = '/a'\nresource = '*'\n", "rules.toml:1: rule 1: action is required"),
        (
            "\n[[rule]]\npath = '/a'\naction = 'nope'\nresource = '*'\n",
            "rules.toml:4: rule 1: action 'nope' is not service:Action",
        ),
        (
            "[[rule]]\npath = '/a/{id}'\naction = 's:A'\nresource = 'arn:aws:s:::{idd}'\n",
            "rules.toml:4: rule 1: unknown placeholder {idd} in resource",
        ),
        (
            "[[rule]]\npath = '/a'\naction = 's:A'\nresource = 'doc/1'\n",
            "rules.toml:4: rule 1: resource must be an ARN template",
        ),
        (
            "[[rule]]\npath = '/a'\naction = 's:A'\nresource = 'arn:aws:s:::{x'\n",
            "rules.toml:4: rule 1: a brace in resource",
        ),
        (
            "[[rule]]\npath = '/a/**/b'\naction = 's:A'\nresource = '*'\n",
            "rules.toml:2: rule 1: ** must be the last segment",
        ),
        (
            "[[rule]]\npath = '/a/{x}/{x}'\naction = 's:A'\nresource = '*'\n",
            "rules.toml:2: rule 1: capture {x} appears twice",
        ),
        (
            "[[rule]]\npath = '/a/{x}{y}'\naction = 's:A'\nresource = '*'\n",
            "rules.toml:2: rule 1: one capture per segment",
        ),
        ("[[rule]]\npath = '/a//b'\naction = 's:A'\nresource = '*'\n", "rules.toml:2: rule 1: empty segment"),
        (
            "[[rule]]\nmethod = 'FETCH'\npath = '/a'\naction = 's:A'\nresource = '*'\n",
            "rules.toml:2: rule 1: unknown HTTP method 'FETCH'",
        ),
        (
            "[[rule]]\nmethod = ['*', 'GET']\npath = '/a'\naction = 's:A'\nresource = '*'\n",
            "rules.toml:2: rule 1: * stands alone",
        ),
        (
            "[[rule]]\npath = '/a'\nanonymous = true\naction = 's:A'\n",
            "rules.toml:4: rule 1: an anonymous rule takes no action",
        ),
        ("[[rule]]\npath = '/a'\nacton = 's:A'\n", "rules.toml:3: rule 1: unknown key 'acton'"),
        (
            "[[rule]]\npath = '/a'\naction = 's:A'\nresource = '*'\n\n"
            "[[rule]]\npath = '/b'\naction = 's:B'\nresource = 'x'\n",
            "rules.toml:9: rule 2: resource must be an ARN",
        ),
        (
            "[vars]\nhost = 'x'\n[[rule]]\npath = '/a'\naction = 's:A'\nresource = '*'\n",
            "rules.toml:2: invalid variable name 'host'",
        ),
        ("[other]\nx = 1\n", "unknown top-level key 'other'"),
        ("", "no rules"),
        ("[[rule]]\npath = \n", "rules.toml: Invalid value (at line 2, column 8)"),
    ],
)
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(RulesError) as info:
        parse(text)
    assert message in str(info.value)


def test_load_reads_a_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "forward-auth.toml"
    path.write_text(RULES)
    assert len(load(str(path)).rules) == 7
    path.write_text("[[rule]]\npath = '/a'\n")
    with pytest.raises(RulesError, match=rf"^{path}:1: rule 1: action is required"):
        load(str(path))
