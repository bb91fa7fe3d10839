"""The shared validator on typed input, and the error each service answers with."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from botocore.model import ServiceModel
from botocore.serialize import create_serializer

from iamd.core.errors import (
    AwsError,
    InvalidInputException,
    InvalidRequestException,
    ValidationError,
    ValidationException,
)
from iamd.web.protocol.form import parse_form
from iamd.web.protocol.input_errors import invalid_input_error
from iamd.web.protocol.model import ServiceSpec, load_service
from iamd.web.protocol.query_parser import parse_input
from iamd.web.protocol.validate import Rule, check_input, render_value, validation_message
from tests.unit.protocol.test_synthetic_model import BOTO_MODEL
from tests.unit.protocol.test_synthetic_model import SPEC as QUERY_SPEC

MODEL: dict[str, Any] = {
    "metadata": {"apiVersion": "2020-01-01", "protocol": "json", "targetPrefix": "T", "jsonVersion": "1.1"},
    "operations": {},
    "shapes": {
        "In": {
            "type": "structure",
            "required": ["Name", "Items"],
            "members": {
                "Name": {"shape": "Name"},
                "Items": {"shape": "Items"},
                "Count": {"shape": "Count"},
                "Ratio": {"shape": "Ratio"},
                "Secret": {"shape": "Secret"},
                "Color": {"shape": "Color"},
                "Data": {"shape": "Data"},
                "Attrs": {"shape": "Attrs"},
                "Doc": {"shape": "Doc"},
                "Inner": {"shape": "Inner"},
                "Flag": {"shape": "Flag"},
            },
        },
        "Inner": {"type": "structure", "required": ["Key"], "members": {"Key": {"shape": "Name"}}},
        "Name": {"type": "string", "min": 2, "max": 5, "pattern": "^[a-z]+$"},
        "Items": {"type": "list", "member": {"shape": "Inner"}, "min": 1, "max": 2},
        "Count": {"type": "integer", "min": 1, "max": 10},
        "Ratio": {"type": "double", "min": 0, "max": 1},
        "Secret": {"type": "string", "min": 8, "sensitive": True},
        "Color": {"type": "string", "enum": ["RED", "BLUE"]},
        "Data": {"type": "blob", "max": 2},
        "Attrs": {"type": "map", "key": {"shape": "Color"}, "value": {"shape": "Count"}, "max": 1},
        "Doc": {"type": "structure", "members": {}, "document": True},
        "Flag": {"type": "boolean"},
    },
}
SPEC = ServiceSpec("synthetic", MODEL)
SHAPE = SPEC.compiled("In")
VALID: dict[str, Any] = {"Name": "ab", "Items": [{"Key": "cd"}]}


def messages(value: dict[str, Any]) -> list[str]:
    return [str(v) for v in check_input(SHAPE, value)]


def test_valid_input_has_no_violations() -> None:
    full = {
        **VALID,
        "Count": 10,
        "Ratio": 0.0,
        "Secret": "x" * 8,
        "Color": "RED",
        "Data": b"ab",
        "Attrs": {"BLUE": 1},
        "Doc": {"anything": [1, "x", None]},
        "Flag": False,
    }
    assert check_input(SHAPE, full) == []


def test_required_members() -> None:
    violations = check_input(SHAPE, {})
    assert [(v.path, v.rule) for v in violations] == [("name", Rule.REQUIRED), ("items", Rule.REQUIRED)]
    assert validation_message(violations) == (
        "2 validation errors detected: "
        "Value null at 'name' failed to satisfy constraint: Member must not be null; "
        "Value null at 'items' failed to satisfy constraint: Member must not be null"
    )


def test_string_rules_in_aws_order() -> None:
    assert messages({**VALID, "Name": "ABCDEF"}) == [
        "Value 'ABCDEF' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: "
        "^[a-z]+$",
        "Value 'ABCDEF' at 'name' failed to satisfy constraint: Member must have length less than or equal to 5",
    ]
    assert messages({**VALID, "Color": "GREEN"}) == [
        "Value 'GREEN' at 'color' failed to satisfy constraint: Member must satisfy enum value set: [RED, BLUE]"
    ]


def test_list_length_then_elements() -> None:
    violations = check_input(SHAPE, {"Name": "ab", "Items": [{"Key": "X"}, {}, {"Key": "ok"}]})
    assert [str(v) for v in violations] == [
        "Value '[{Key: X}, {}, {Key: ok}]' at 'items' failed to satisfy constraint: "
        "Member must have length less than or equal to 2",
        "Value 'X' at 'items.1.member.key' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[a-z]+$",
        "Value 'X' at 'items.1.member.key' failed to satisfy constraint: "
        "Member must have length greater than or equal to 2",
        "Value null at 'items.2.member.key' failed to satisfy constraint: Member must not be null",
    ]
    assert messages({"Name": "ab", "Items": []}) == [
        "Value '[]' at 'items' failed to satisfy constraint: Member must have length greater than or equal to 1"
    ]
    assert messages({"Name": "ab", "Items": [None]}) == [
        "Value null at 'items.1.member' failed to satisfy constraint: Member must not be null"
    ]


def test_numbers_blobs_maps() -> None:
    assert messages({**VALID, "Count": 0, "Ratio": 1.5, "Data": b"abc"}) == [
        "Value '0' at 'count' failed to satisfy constraint: Member must have value greater than or equal to 1",
        "Value '1.5' at 'ratio' failed to satisfy constraint: Member must have value less than or equal to 1",
        "Value 'YWJj' at 'data' failed to satisfy constraint: Member must have length less than or equal to 2",
    ]
    assert messages({**VALID, "Ratio": math.nan}) == []
    assert messages({**VALID, "Attrs": {"RED": 11, "PINK": 1}}) == [
        "Value '{RED=11, PINK=1}' at 'attrs' failed to satisfy constraint: "
        "Member must have length less than or equal to 1",
        "Value '11' at 'attrs.1.entry.value' failed to satisfy constraint: "
        "Member must have value less than or equal to 10",
        "Value 'PINK' at 'attrs.2.entry.key' failed to satisfy constraint: "
        "Member must satisfy enum value set: [RED, BLUE]",
    ]
    assert messages({**VALID, "Attrs": {"RED": None}}) == [
        "Value null at 'attrs.1.entry.value' failed to satisfy constraint: Member must not be null"
    ]


def test_sensitive_values_are_not_echoed() -> None:
    assert messages({**VALID, "Secret": "short"}) == [
        "Value at 'secret' failed to satisfy constraint: Member must have length greater than or equal to 8"
    ]
    assert render_value({"Secret": "x"}, SHAPE) == "{Secret: ***Sensitive Data Redacted***}"


def test_single_violation_wording() -> None:
    assert validation_message(check_input(SHAPE, {"Items": [{"Key": "ab"}]})) == (
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"
    )


# --- the same wording as the Query validator ---------------------------------------------------


def _query_message(params: dict[str, Any]) -> str:
    request = create_serializer("query", include_validation=False).serialize_to_request(
        params, BOTO_MODEL.operation_model("Everything")
    )
    form = parse_form("&".join(f"{k}={v}" for k, v in request["body"].items() if "%" not in str(v)))
    with pytest.raises(ValidationError) as info:
        parse_input(QUERY_SPEC, "Everything", form)
    return info.value.message


@pytest.mark.parametrize(
    "typed",
    [
        {},
        {"Name": "A B C D E F G H", "Count": 9, "Ratio": 2.0},
        {"Name": "x", "Wrapped": ["a", "B", "c"], "Inner": {"Deep": {"Value": "!", "Many": ["Q"]}}},
        {"Name": "x", "Attrs": {"a": 9, "B": 1, "c": 1, "d": 1}},
        {"Name": "x", "Labels": {"ok": "NO"}, "Data": b"0123456789"},
    ],
)
def test_query_validator_parity(typed: dict[str, Any]) -> None:
    """check_input words typed input exactly as query_parser words the same input sent as a form."""
    violations = check_input(QUERY_SPEC.compiled("Thing"), typed)
    assert violations
    assert validation_message(violations) == _query_message(typed)


@pytest.mark.parametrize(
    ("service", "operation", "typed"),
    [
        ("iam", "CreateUser", {"UserName": "a b", "Path": "x", "Tags": [{"Key": "", "Value": "v"}] * 51}),
        ("iam", "AttachUserPolicy", {}),
        ("iam", "CreateLoginProfile", {"UserName": "bob", "Password": ""}),
        ("iam", "UpdateAccountPasswordPolicy", {"MinimumPasswordLength": 200, "MaxPasswordAge": 0}),
        ("iam", "GetAccountAuthorizationDetails", {"Filter": ["User", "Nope"], "MaxItems": 0}),
        ("sts", "AssumeRole", {"RoleArn": "a", "RoleSessionName": "s", "DurationSeconds": 10}),
    ],
)
def test_iam_and_sts_parity(service: str, operation: str, typed: dict[str, Any]) -> None:
    spec = load_service(service)
    boto = ServiceModel(spec_model(service), service_name=service)
    request = create_serializer("query", include_validation=False).serialize_to_request(
        typed, boto.operation_model(operation)
    )
    with pytest.raises(ValidationError) as info:
        parse_input(spec, operation, {k: str(v) for k, v in request["body"].items()})
    input_shape = spec.operations[operation].input_shape
    assert input_shape is not None
    assert validation_message(check_input(spec.compiled(input_shape), typed)) == info.value.message


def spec_model(service: str) -> dict[str, Any]:
    from botocore.loaders import Loader

    model: dict[str, Any] = Loader().load_service_model(service, "service-2")
    return model


# --- which error each service answers ----------------------------------------------------------


def _violations(service: str, shape: str, value: dict[str, Any]) -> list[Any]:
    found = check_input(load_service(service).compiled(shape), value)
    assert found
    return found


def test_query_services_answer_validation_error() -> None:
    error = invalid_input_error(load_service("iam"), _violations("iam", "CreateUserRequest", {}))
    assert type(error) is ValidationError and error.code == "ValidationError" and error.status == 400
    assert error.message.startswith("1 validation error detected: Value null at 'userName'")


@pytest.mark.parametrize("service", ["identitystore", "rolesanywhere", "sso-admin"])
def test_json_services_answer_validation_exception(service: str) -> None:
    spec = load_service(service)
    request = {"identitystore": "DescribeUserRequest", "rolesanywhere": "ScalarProfileRequest"}.get(
        service, "DescribeInstanceRequest"
    )
    error = invalid_input_error(spec, _violations(service, request, {}))
    assert type(error) is ValidationException and error.status == 400 and error.fields == {}
    assert re.fullmatch(r"[12] validation errors? detected: Value null at '\w+' failed to satisfy .*", error.message)
    modeled = spec.error_shape("ValidationException")
    assert modeled is not None and modeled.error_status in (None, 400)


@pytest.mark.parametrize(
    ("value", "reason", "message"),
    [
        ({}, "INPUT_REQUIRED", "You must include a value for all required parameters."),
        ({"AccountId": "12"}, "INVALID_PATTERN", "You provided a value that does not match the required pattern."),
    ],
)
def test_organizations_answers_invalid_input_with_a_reason(value: dict[str, Any], reason: str, message: str) -> None:
    spec = load_service("organizations")
    error = invalid_input_error(spec, _violations("organizations", "DescribeAccountRequest", value))
    assert isinstance(error, InvalidInputException)
    assert (error.code, error.status, error.message, error.fields) == (
        "InvalidInputException",
        400,
        message,
        {"Reason": reason},
    )
    reasons = spec.compiled("InvalidInputExceptionReason").enum
    assert reasons is not None and reason in reasons


@pytest.mark.parametrize(
    ("shape", "value", "reason"),
    [
        ("ListPoliciesRequest", {"Filter": "NOPE"}, "INVALID_ENUM_POLICY_TYPE"),
        ("ListPoliciesForTargetRequest", {"TargetId": "x", "Filter": "TAG_POLICY"}, "INVALID_PATTERN_TARGET_ID"),
        ("DescribePolicyRequest", {"PolicyId": "x"}, "INVALID_SYNTAX_POLICY_ID"),
        ("ListAccountsRequest", {"MaxResults": 0}, "MIN_VALUE_EXCEEDED"),
        ("ListAccountsRequest", {"MaxResults": 21}, "MAX_VALUE_EXCEEDED"),
        ("CreateOrganizationalUnitRequest", {"ParentId": "r-abcd", "Name": ""}, "MIN_LENGTH_EXCEEDED"),
        ("CreateOrganizationalUnitRequest", {"ParentId": "r-abcd", "Name": "x" * 129}, "MAX_LENGTH_EXCEEDED"),
        ("EnableAWSServiceAccessRequest", {"ServicePrincipal": "x" * 129}, "MAX_LENGTH_EXCEEDED"),
        (
            "CreateAccountRequest",
            {"Email": "a@b.co", "AccountName": "n", "IamUserAccessToBilling": "X"},
            "INVALID_ENUM",
        ),
    ],
)
def test_organizations_reasons(shape: str, value: dict[str, Any], reason: str) -> None:
    spec = load_service("organizations")
    error = invalid_input_error(spec, _violations("organizations", shape, value))
    assert isinstance(error, InvalidInputException) and error.fields == {"Reason": reason}
    reasons = spec.compiled("InvalidInputExceptionReason").enum
    assert reasons is not None and reason in reasons


def test_sso_portal_answers_invalid_request() -> None:
    spec = load_service("sso")
    error = invalid_input_error(spec, _violations("sso", "GetRoleCredentialsRequest", {}))
    assert isinstance(error, InvalidRequestException) and error.status == 400 and error.fields == {}
    assert error.message == (
        "3 validation errors detected: "
        "Value null at 'roleName' failed to satisfy constraint: Member must not be null; "
        "Value null at 'accountId' failed to satisfy constraint: Member must not be null; "
        "Value null at 'accessToken' failed to satisfy constraint: Member must not be null"
    )
    modeled = spec.error_shape("InvalidRequestException")
    assert modeled is not None and modeled.error_status == error.status


def test_sso_oidc_answers_invalid_request_oauth_style() -> None:
    spec = load_service("sso-oidc")
    error = invalid_input_error(spec, _violations("sso-oidc", "RegisterClientRequest", {}))
    assert isinstance(error, InvalidRequestException)
    assert error.fields["error"] == "invalid_request"
    assert error.fields["error_description"] == error.message
    modeled = spec.error_shape("InvalidRequestException")
    assert modeled is not None and modeled.error_status == error.status
    assert set(error.fields) <= set(modeled.members)


def test_no_violations_is_a_bug() -> None:
    with pytest.raises(ValueError):
        invalid_input_error(load_service("sso"), [])


@pytest.mark.parametrize(
    "error_class", [ValidationException, InvalidInputException, InvalidRequestException, ValidationError]
)
def test_error_classes_are_sender_faults(error_class: type[AwsError]) -> None:
    error = error_class("m")
    assert error.status == 400 and error.fault_type == "Sender" and error.message == "m"
