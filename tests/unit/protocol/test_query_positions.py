"""List and map indexes are positions 1..n: gaps and odd spellings are refused, in every container."""

from __future__ import annotations

from typing import Any

import pytest

from iamd.core.errors import MalformedQueryString
from iamd.web.protocol.model import load_service
from iamd.web.protocol.query_parser import parse_input
from tests.unit.protocol.test_synthetic_model import SPEC

IAM = load_service("iam")
ARN = "arn:aws:iam::123456789012:user/u"


def refused(spec: Any, operation: str, params: dict[str, str]) -> str:
    with pytest.raises(MalformedQueryString) as exc:
        parse_input(spec, operation, params)
    assert exc.value.status == 400 and exc.value.code == "MalformedQueryString"
    return exc.value.message


def context(*entries: tuple[str, list[str]], index_of: Any = None) -> dict[str, str]:
    params = {"PolicySourceArn": ARN, "ActionNames.member.1": "iam:GetUser"}
    for n, (key, values) in enumerate(entries, 1):
        params[f"ContextEntries.member.{n}.ContextKeyName"] = key
        params[f"ContextEntries.member.{n}.ContextKeyType"] = "stringList"
        for m, value in enumerate(values, 1):
            params[f"ContextEntries.member.{n}.ContextKeyValues.member.{index_of(m) if index_of else m}"] = value
    return params


def test_nested_lists_in_order() -> None:
    out = parse_input(IAM, "SimulatePrincipalPolicy", context(("aws:bb", ["x", "y"]), ("aws:dd", ["z"])))
    assert [(e["ContextKeyName"], e["ContextKeyValues"]) for e in out["ContextEntries"]] == [
        ("aws:bb", ["x", "y"]),
        ("aws:dd", ["z"]),
    ]


def test_a_gap_in_an_inner_list_names_the_inner_list() -> None:
    params = context(("aws:bb", ["x", "y"]), ("aws:dd", ["z", "w"]), index_of=lambda m: 2 * m - 1)  # 1, 3
    assert refused(IAM, "SimulatePrincipalPolicy", params) == (
        "The request has ContextEntries.member.1.ContextKeyValues.member.3 but no "
        "ContextEntries.member.1.ContextKeyValues.member.2: number the members of "
        "ContextEntries.member.1.ContextKeyValues.member 1, 2, 3, ... without gaps."
    )


def test_a_gap_in_the_outer_list() -> None:
    params = context(("aws:bb", ["x"]))
    params = {k.replace("ContextEntries.member.1.", "ContextEntries.member.2."): v for k, v in params.items()}
    assert refused(IAM, "SimulatePrincipalPolicy", params).startswith(
        "The request has ContextEntries.member.2 but no ContextEntries.member.1: "
    )


def test_leading_zero_in_an_inner_index() -> None:
    params = context(("aws:bb", ["x", "y"]), index_of=lambda m: f"0{m}")
    assert "has the index '01' where a position is expected" in refused(IAM, "SimulatePrincipalPolicy", params)


def test_a_leading_zero_would_otherwise_alias_another_member() -> None:
    # member.1 and member.01 are the same number: which one wins must not depend on parameter order.
    params = {"RoleName": "r", "TagKeys.member.1": "one", "TagKeys.member.01": "other"}
    assert "'01'" in refused(IAM, "UntagRole", params)


def test_sparse_tag_list_from_the_issue() -> None:
    params = {"UserName": "u", "Tags.member.99999999999.Key": "k", "Tags.member.99999999999.Value": "v"}
    assert "'99999999999'" in refused(IAM, "CreateUser", params)
    params = {"UserName": "u", "Tags.member.999999999.Key": "k", "Tags.member.999999999.Value": "v"}
    assert refused(IAM, "CreateUser", params).startswith("The request has Tags.member.999999999 but no Tags.member.1:")


def test_empty_list_marker_with_a_sparse_member() -> None:
    params = {"UserName": "u", "Tags": "", "Tags.member.2.Key": "k", "Tags.member.2.Value": "v"}
    assert refused(IAM, "CreateUser", params).startswith("The request has Tags.member.2 but no Tags.member.1:")


def test_long_names_are_cut_short_in_the_message() -> None:
    index = "x" * 500
    message = refused(IAM, "CreateUser", {"UserName": "u", f"Tags.member.{index}.Key": "k"})
    assert len(message) < 400 and "..." in message


# --- maps and flattened lists (the synthetic model: IAM and STS have none) ----------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"Attrs.entry.2.key": "x", "Attrs.entry.2.value": "1"},
            "The request has Attrs.entry.2 but no Attrs.entry.1: "
            "number the entries of Attrs.entry 1, 2, 3, ... without gaps.",
        ),
        (
            {"Labels.entry.1.Label": "a", "Labels.entry.1.Text": "b", "Labels.entry.3.Label": "c"},
            "The request has Labels.entry.3 but no Labels.entry.2: "
            "number the entries of Labels.entry 1, 2, 3, ... without gaps.",
        ),
        (
            {"FlatMap.2.key": "k", "FlatMap.2.value": "v"},
            "The request has FlatMap.2 but no FlatMap.1: number the entries of FlatMap 1, 2, 3, ... without gaps.",
        ),
        (
            {"FlatItems.1": "a", "FlatItems.3": "c"},
            "The request has FlatItems.3 but no FlatItems.2: "
            "number the members of FlatItems 1, 2, 3, ... without gaps.",
        ),
        (
            {"Inner.Deep.Many.Entry.2": "b"},
            "The request has Inner.Deep.Many.Entry.2 but no Inner.Deep.Many.Entry.1: "
            "number the members of Inner.Deep.Many.Entry 1, 2, 3, ... without gaps.",
        ),
    ],
)
def test_gaps_in_maps_and_flattened_lists(params: dict[str, str], message: str) -> None:
    assert refused(SPEC, "Everything", {"Name": "n", **params}) == message


@pytest.mark.parametrize(
    "key", ["Attrs.entry.0.key", "Attrs.entry.01.key", "Attrs.entry.one.key", "FlatMap.0.value", "FlatItems.-2"]
)
def test_bad_indexes_in_maps_and_flattened_lists(key: str) -> None:
    assert "where a position is expected" in refused(SPEC, "Everything", {"Name": "n", key: "x"})


def test_maps_in_order_still_parse() -> None:
    params = {
        "Name": "n",
        "Attrs.entry.2.key": "y",
        "Attrs.entry.2.value": "2",
        "Attrs.entry.1.key": "x",
        "Attrs.entry.1.value": "1",
        "FlatMap.1.key": "k",
        "FlatMap.1.value": "v",
    }
    assert parse_input(SPEC, "Everything", params) == {"Name": "n", "Attrs": {"x": 1, "y": 2}, "FlatMap": {"k": "v"}}
