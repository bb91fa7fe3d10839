"""Query features IAM and STS do not use, on a hand-made model, checked against botocore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.awsrequest import AWSRequest
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from iamd.core.errors import ValidationError
from iamd.web.protocol.form import parse_form
from iamd.web.protocol.model import ServiceSpec
from iamd.web.protocol.query_parser import parse_input
from iamd.web.protocol.xml_serializer import serialize_result

MODEL: dict[str, Any] = {
    "metadata": {
        "apiVersion": "2020-01-01",
        "protocol": "query",
        "xmlNamespace": "https://example.test/doc/2020-01-01/",
        "serviceId": "Synthetic",
        "endpointPrefix": "synthetic",
        "signatureVersion": "v4",
    },
    "operations": {
        "Everything": {
            "name": "Everything",
            "http": {"method": "POST", "requestUri": "/"},
            "input": {"shape": "Thing"},
            "output": {"shape": "Thing", "resultWrapper": "EverythingResult"},
        },
        "Unwrapped": {
            "name": "Unwrapped",
            "http": {"method": "POST", "requestUri": "/"},
            "output": {"shape": "Small"},
        },
    },
    "shapes": {
        "Thing": {
            "type": "structure",
            "required": ["Name"],
            "members": {
                "Name": {"shape": "Name"},
                "Count": {"shape": "Count"},
                "Big": {"shape": "Big"},
                "Ratio": {"shape": "Ratio"},
                "Flag": {"shape": "Flag"},
                "When": {"shape": "When"},
                "Data": {"shape": "Data"},
                "Renamed": {"shape": "Name", "locationName": "Alias"},
                "Attrs": {"shape": "Attrs"},
                "Labels": {"shape": "Labels"},
                "FlatItems": {"shape": "FlatItems"},
                "FlatNamed": {"shape": "FlatNamed"},
                "Wrapped": {"shape": "Wrapped"},
                "FlatMap": {"shape": "FlatMap"},
                "Inner": {"shape": "Inner"},
            },
        },
        "Small": {"type": "structure", "members": {"Name": {"shape": "Name"}}},
        "Inner": {
            "type": "structure",
            "members": {"Deep": {"shape": "Inner"}, "Value": {"shape": "Name"}, "Many": {"shape": "Wrapped"}},
        },
        "Name": {"type": "string", "min": 1, "max": 10, "pattern": "[a-z0-9 ]+"},
        "Count": {"type": "integer", "min": 1, "max": 5},
        "Big": {"type": "long"},
        "Ratio": {"type": "double", "min": 0, "max": 1},
        "Flag": {"type": "boolean"},
        "When": {"type": "timestamp"},
        "Data": {"type": "blob", "max": 8},
        "Attrs": {"type": "map", "key": {"shape": "Name"}, "value": {"shape": "Count"}, "max": 3},
        "Labels": {
            "type": "map",
            "key": {"shape": "Name", "locationName": "Label"},
            "value": {"shape": "Name", "locationName": "Text"},
        },
        "FlatMap": {"type": "map", "key": {"shape": "Name"}, "value": {"shape": "Name"}, "flattened": True},
        "FlatItems": {"type": "list", "member": {"shape": "Name"}, "flattened": True},
        "FlatNamed": {"type": "list", "member": {"shape": "Name", "locationName": "Item"}, "flattened": True},
        "Wrapped": {"type": "list", "member": {"shape": "Name", "locationName": "Entry"}, "max": 2},
    },
}

SPEC = ServiceSpec("synthetic", MODEL)
BOTO_MODEL = ServiceModel(MODEL, service_name="synthetic")
WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

FULL: dict[str, Any] = {
    "Name": "a b",
    "Count": 3,
    "Big": 2**40,
    "Ratio": 0.25,
    "Flag": False,
    "When": WHEN,
    "Data": b"\x00\xff+/=",
    "Renamed": "alias",
    "Attrs": {"x": 1, "y": 2},
    "Labels": {"k1": "v1", "k2": "v2"},
    "FlatItems": ["f1", "f2"],
    "FlatNamed": ["n1", "n2", "n3"],
    "Wrapped": ["w1"],
    "FlatMap": {"m1": "x", "m2": "y"},
    "Inner": {"Value": "v", "Deep": {"Value": "deeper", "Many": ["a", "b"]}},
}


def body_for(params: dict[str, Any]) -> bytes:
    request = create_serializer("query").serialize_to_request(params, BOTO_MODEL.operation_model("Everything"))
    body = AWSRequest(method="POST", url="https://example.test/", data=request["body"]).prepare().body
    return body if isinstance(body, bytes) else body.encode()


def test_input_round_trip_through_botocore() -> None:
    form = parse_form(body_for(FULL))
    # The wire names botocore used.
    assert {"Alias", "FlatItems.1", "Item.3", "Wrapped.Entry.1", "Labels.entry.2.Label", "Labels.entry.2.Text"} <= set(
        form
    )
    assert {"FlatMap.1.key", "FlatMap.2.value", "Attrs.entry.1.key", "Inner.Deep.Many.Entry.2"} <= set(form)
    assert parse_input(SPEC, "Everything", form) == FULL


def test_output_round_trip_through_botocore() -> None:
    xml = serialize_result(SPEC, "Everything", FULL, "r")
    assert b"<Alias>alias</Alias>" in xml
    assert b"<FlatItems>f1</FlatItems><FlatItems>f2</FlatItems>" in xml
    assert b"<Item>n1</Item><Item>n2</Item><Item>n3</Item>" in xml
    assert b"<Wrapped><Entry>w1</Entry></Wrapped>" in xml
    assert b"<Labels><entry><Label>k1</Label><Text>v1</Text></entry>" in xml
    assert b"<FlatMap><key>m1</key><value>x</value></FlatMap><FlatMap><key>m2</key>" in xml
    assert b"<Big>1099511627776</Big><Ratio>0.25</Ratio>" in xml
    parsed = create_parser("query").parse(
        {"body": xml, "headers": {}, "status_code": 200}, BOTO_MODEL.operation_model("Everything").output_shape
    )
    parsed.pop("ResponseMetadata")
    assert parsed == FULL


def test_output_without_result_wrapper() -> None:
    xml = serialize_result(SPEC, "Unwrapped", {"Name": "x"}, "r")
    assert xml == (
        b'<UnwrappedResponse xmlns="https://example.test/doc/2020-01-01/"><Name>x</Name>'
        b"<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></UnwrappedResponse>"
    )
    parsed = create_parser("query").parse(
        {"body": xml, "headers": {}, "status_code": 200}, BOTO_MODEL.operation_model("Unwrapped").output_shape
    )
    assert parsed["Name"] == "x"


def test_empty_flattened_list_writes_nothing() -> None:
    xml = serialize_result(SPEC, "Everything", {"Name": "x", "FlatItems": [], "Wrapped": []}, "r")
    assert b"FlatItems" not in xml
    assert b"<Wrapped/>" in xml


def test_float_specials() -> None:
    xml = serialize_result(SPEC, "Everything", {"Ratio": float("inf")}, "r")
    assert b"<Ratio>Infinity</Ratio>" in xml
    xml = serialize_result(SPEC, "Everything", {"Ratio": float("nan")}, "r")
    assert b"<Ratio>NaN</Ratio>" in xml
    assert b"<Ratio>1.0</Ratio>" in serialize_result(SPEC, "Everything", {"Ratio": 1}, "r")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-02T03:04:05Z", WHEN),
        ("2024-01-02T03:04:05.250Z", WHEN + timedelta(milliseconds=250)),
        ("2024-01-02T04:04:05+01:00", WHEN),
        ("2024-01-02T03:04:05", WHEN),
        ("2024-01-02", datetime(2024, 1, 2, tzinfo=UTC)),
        ("1704164645", WHEN),
        ("1704164645.5", WHEN + timedelta(milliseconds=500)),
        ("20240102T030405Z", WHEN),
        ("20240102", datetime(2024, 1, 2, tzinfo=UTC)),
    ],
)
def test_timestamps_in(raw: str, expected: datetime) -> None:
    value = parse_input(SPEC, "Everything", {"Name": "x", "When": raw})["When"]
    assert value == expected
    assert value.tzinfo is not None


def test_timezone_is_kept_as_given() -> None:
    value = parse_input(SPEC, "Everything", {"Name": "x", "When": "2024-01-02T04:04:05+01:00"})["When"]
    assert value.utcoffset() == timezone(timedelta(hours=1)).utcoffset(None)


def message(params: dict[str, str]) -> str:
    with pytest.raises(ValidationError) as info:
        parse_input(SPEC, "Everything", {"Name": "x", **params})
    return info.value.message


@pytest.mark.parametrize("raw", ["yesterday", "2024-13-01T00:00:00Z", "", "2024-01-02T03:04:05Zjunk", "1e99999"])
def test_bad_timestamps(raw: str) -> None:
    assert message({"When": raw}) == (
        f"1 validation error detected: Value '{raw}' at 'when' failed to satisfy constraint: "
        "Member must be a timestamp in ISO 8601 format"
    )


@pytest.mark.parametrize("raw", ["not base64!", "AAA", "A===", "AA==AA=="])
def test_bad_base64(raw: str) -> None:
    assert message({"Data": raw}) == (
        f"1 validation error detected: Value '{raw}' at 'data' failed to satisfy constraint: "
        "Member must be valid base64-encoded data"
    )


def test_blob_values_and_length() -> None:
    assert parse_input(SPEC, "Everything", {"Name": "x", "Data": ""})["Data"] == b""
    assert parse_input(SPEC, "Everything", {"Name": "x", "Data": "AAEC"})["Data"] == b"\x00\x01\x02"
    assert message({"Data": "AAAAAAAAAAAA"}) == (
        "1 validation error detected: Value 'AAAAAAAAAAAA' at 'data' failed to satisfy constraint: "
        "Member must have length less than or equal to 8"
    )


def test_long_and_double() -> None:
    assert parse_input(SPEC, "Everything", {"Name": "x", "Big": str(2**63 - 1)})["Big"] == 2**63 - 1
    assert "Member must be an integer" in message({"Big": str(2**63)})
    assert "Member must be an integer" in message({"Count": str(2**31)})
    assert parse_input(SPEC, "Everything", {"Name": "x", "Ratio": ".5"})["Ratio"] == 0.5
    assert parse_input(SPEC, "Everything", {"Name": "x", "Ratio": "1e-1"})["Ratio"] == 0.1
    assert message({"Ratio": "1.5"}) == (
        "1 validation error detected: Value '1.5' at 'ratio' failed to satisfy constraint: "
        "Member must have value less than or equal to 1"
    )
    assert "Member must be a number" in message({"Ratio": "half"})


def test_map_validation() -> None:
    params = {
        "Attrs.entry.1.key": "a",
        "Attrs.entry.1.value": "9",
        "Attrs.entry.2.key": "b",
        "Attrs.entry.3.value": "1",
        "Attrs.entry.4.key": "c",
        "Attrs.entry.4.value": "1",
        "Attrs.entry.5.key": "d",
        "Attrs.entry.5.value": "1",
        "Attrs.entry.6.key": "e",
        "Attrs.entry.6.value": "1",
    }
    assert message(params) == (
        "4 validation errors detected: "
        "Value '{a=9, c=1, d=1, e=1}' at 'attrs' failed to satisfy constraint: "
        "Member must have length less than or equal to 3; "
        "Value '9' at 'attrs.1.entry.value' failed to satisfy constraint: "
        "Member must have value less than or equal to 5; "
        "Value null at 'attrs.2.entry.value' failed to satisfy constraint: Member must not be null; "
        "Value null at 'attrs.3.entry.key' failed to satisfy constraint: Member must not be null"
    )


def test_nested_paths_and_wrapped_list_limits() -> None:
    assert message(
        {"Inner.Deep.Many.Entry.1": "A", "Inner.Deep.Many.Entry.2": "b", "Inner.Deep.Many.Entry.3": "c"}
    ) == (
        "2 validation errors detected: "
        "Value '[A, b, c]' at 'inner.deep.many' failed to satisfy constraint: "
        "Member must have length less than or equal to 2; "
        "Value 'A' at 'inner.deep.many.1.member' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-z0-9 ]+"
    )


def test_wire_names_only() -> None:
    # Model names that differ from wire names are not accepted on the wire.
    assert parse_input(SPEC, "Everything", {"Name": "x", "Renamed": "y", "FlatNamed.1": "z"}) == {"Name": "x"}
    assert parse_input(SPEC, "Everything", {"Name": "x", "Alias": "y", "Item.1": "z"}) == {
        "Name": "x",
        "Renamed": "y",
        "FlatNamed": ["z"],
    }
