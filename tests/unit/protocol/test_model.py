from __future__ import annotations

import re
from typing import Any

import pytest

from iamd.web.protocol.model import (
    OperationSpec,
    ServiceSpec,
    compile_pattern,
    load_service,
    lower_camel,
    translate_pattern,
)


def test_load_service_metadata_and_cache() -> None:
    iam = load_service("iam")
    assert load_service("iam") is iam
    assert iam.name == "iam"
    assert iam.api_version == "2010-05-08"
    assert iam.xml_namespace == "https://iam.amazonaws.com/doc/2010-05-08/"
    sts = load_service("sts")
    assert sts.api_version == "2011-06-15"
    assert sts.xml_namespace == "https://sts.amazonaws.com/doc/2011-06-15/"
    assert len(iam.operations) > 150
    assert {"AssumeRole", "GetCallerIdentity", "GetSessionToken"} <= set(sts.operations)


def test_operation_specs() -> None:
    iam = load_service("iam")
    create_user = iam.operations["CreateUser"]
    assert create_user == OperationSpec(
        name="CreateUser",
        input_shape="CreateUserRequest",
        output_shape="CreateUserResponse",
        result_wrapper="CreateUserResult",
        error_shapes=create_user.error_shapes,
    )
    assert "EntityAlreadyExistsException" in create_user.error_shapes
    delete_user = iam.operations["DeleteUser"]
    assert delete_user.output_shape is None and delete_user.result_wrapper is None
    summary = iam.operations["GetAccountSummary"]
    assert summary.input_shape is None
    assert iam.shape("userNameType")["type"] == "string"
    with pytest.raises(KeyError):
        iam.shape("NoSuchShape")


def test_compiled_shapes_are_shared_and_resolved() -> None:
    iam = load_service("iam")
    request = iam.compiled("CreateUserRequest")
    assert iam.compiled("CreateUserRequest") is request
    assert list(request.members) == ["Path", "UserName", "PermissionsBoundary", "Tags"]
    assert request.required == frozenset({"UserName"})
    tags = request.members["Tags"]
    assert tags.label == "tags" and tags.wire == "Tags" and tags.open_tag == "<Tags>"
    assert tags.shape.type == "list" and tags.shape.max == 50
    assert tags.shape.member is not None and tags.shape.member.wire == "member"
    tag = tags.shape.member.shape
    assert tag is iam.compiled("Tag")
    assert tag.members["Key"].shape.pattern is not None
    assert iam.compiled("policyDocumentType").is_policy_document
    assert not iam.compiled("policyNameType").is_policy_document
    assert iam.compiled("passwordType").sensitive


def test_lower_camel() -> None:
    assert lower_camel("UserName") == "userName"
    assert lower_camel("SAMLMetadataDocument") == "sAMLMetadataDocument"
    assert lower_camel("x") == "x"


@pytest.mark.parametrize("service", ["iam", "sts"])
def test_every_model_pattern_compiles(service: str) -> None:
    spec = load_service(service)
    count = 0
    for name in spec._shapes:
        shape = spec.compiled(name)
        if shape.pattern_text is not None:
            assert shape.pattern is not None
            count += 1
    assert count > 10


def test_java_ascii_word_class() -> None:
    word = compile_pattern(r"[\w+=,.@-]+")
    assert word.fullmatch("Bob_1+=,.@-")
    assert not word.fullmatch("bob smith")
    assert not word.fullmatch("élodie")  # Java's \w is ASCII
    assert not compile_pattern(r"[\d]+").fullmatch("٣")


def test_unicode_categories() -> None:
    tag = compile_pattern(r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+")
    assert tag.fullmatch("Été 日本 ٣ x_.:/=+-@\u00a0\u3000")
    for bad in ("a!", "a\tb", "a\nb", "a#", "😀", "a*"):
        assert not tag.fullmatch(bad), bad
    assert compile_pattern(r"\p{Lu}+").fullmatch("ÀB")
    assert not compile_pattern(r"\p{Lu}+").fullmatch("Ab")
    assert compile_pattern(r"\P{L}+").fullmatch("1 !")
    assert not compile_pattern(r"\P{L}+").fullmatch("1a")
    assert compile_pattern(r"[^\p{N}]+").fullmatch("abc")
    assert compile_pattern(r"\pL+").fullmatch("abc")
    with pytest.raises(ValueError):
        compile_pattern(r"\p{InGreek}")
    with pytest.raises(ValueError):
        compile_pattern(r"\p{Qq}")


def test_supplementary_code_point_escapes() -> None:
    assert r"\U00010000-\U0010FFFF" in translate_pattern(r"[\uE000-\uFFFD\u10000-\u10FFFF]")
    sts_policy = compile_pattern(r"[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+")
    assert sts_policy.fullmatch("{}😀\t\r\n日本")
    assert not sts_policy.fullmatch("a\x01")
    # Four-digit escapes followed by a digit keep Java's reading.
    assert compile_pattern(r"\u00410").fullmatch("A0")
    assert compile_pattern(r"[\u0041]+").fullmatch("AA")


def test_character_class_edge_cases() -> None:
    assert compile_pattern(r"[]a]+").fullmatch("]a")
    assert compile_pattern(r"[^]a]+").fullmatch("bc")
    assert compile_pattern(r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)").fullmatch("/a/")
    assert not compile_pattern(r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)").fullmatch("/a")
    with pytest.raises(ValueError):
        translate_pattern(r"[a-z&&[^b]]")


def test_compile_pattern_is_cached() -> None:
    assert compile_pattern(r"[\w]+") is compile_pattern(r"[\w]+")
    assert compile_pattern(r"[\w]+").flags & re.ASCII


def _synthetic(members: dict[str, Any], shapes: dict[str, Any]) -> ServiceSpec:
    return ServiceSpec(
        "synthetic",
        {
            "metadata": {"apiVersion": "2020-01-01", "protocol": "query", "xmlNamespace": "urn:x"},
            "operations": {"Op": {"name": "Op", "input": {"shape": "In"}}},
            "shapes": {"In": {"type": "structure", "members": members}, **shapes},
        },
    )


def test_wire_names() -> None:
    spec = _synthetic(
        {
            "Plain": {"shape": "S"},
            "Renamed": {"shape": "S", "locationName": "Other"},
            "Flat": {"shape": "FlatNamed"},
            "FlatPlain": {"shape": "Flat"},
            "Wrapped": {"shape": "Named"},
        },
        {
            "S": {"type": "string"},
            "FlatNamed": {"type": "list", "member": {"shape": "S", "locationName": "Item"}, "flattened": True},
            "Flat": {"type": "list", "member": {"shape": "S"}, "flattened": True},
            "Named": {"type": "list", "member": {"shape": "S", "locationName": "Item"}},
        },
    )
    shape = spec.compiled("In")
    assert {name: m.wire for name, m in shape.members.items()} == {
        "Plain": "Plain",
        "Renamed": "Other",
        "Flat": "Item",
        "FlatPlain": "FlatPlain",
        "Wrapped": "Wrapped",
    }
    assert set(shape.members_by_wire) == {"Plain", "Other", "Item", "FlatPlain", "Wrapped"}
    assert shape.members["Renamed"].label == "renamed"
    wrapped = shape.members["Wrapped"].shape.member
    assert wrapped is not None and wrapped.wire == "Item"


def test_recursive_shapes_compile() -> None:
    spec = _synthetic(
        {"Node": {"shape": "Node"}},
        {
            "Node": {"type": "structure", "members": {"Child": {"shape": "Node"}, "Kids": {"shape": "Nodes"}}},
            "Nodes": {"type": "list", "member": {"shape": "Node"}},
        },
    )
    node = spec.compiled("Node")
    assert node.members["Child"].shape is node
    kids = node.members["Kids"].shape.member
    assert kids is not None and kids.shape is node


@pytest.mark.parametrize("protocol", ["ec2", "rest-xml", "smithy-rpc-v2-cbor", None])
def test_protocols_without_a_parser_are_refused(protocol: str | None) -> None:
    with pytest.raises(ValueError, match="query, rest-json"):
        ServiceSpec("x", {"metadata": {"protocol": protocol}, "operations": {}, "shapes": {}})
