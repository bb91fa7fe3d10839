"""Which AWS error a service answers when its input breaks the model's constraints.

The constraints and their wording are the same everywhere (:mod:`iamd.web.protocol.validate`);
the error that carries them is the service's:

* Query services (IAM, STS): ``ValidationError`` with the joined message.
* Organizations: ``InvalidInputException`` for the first violation, with the ``Reason`` its
  model documents (``INPUT_REQUIRED``, ``INVALID_PATTERN``, ``MAX_LENGTH_EXCEEDED`` ...) and
  the sentence AWS answers for it ("You provided a value that does not match the required
  pattern.").
* SSO (the access portal): ``InvalidRequestException``; SSO-OIDC: ``InvalidRequestException``
  with the OAuth fields ``error: invalid_request`` and ``error_description``.
* Every other JSON service (identitystore, rolesanywhere, sso-admin ...): ``ValidationException``
  with the joined message.
"""

from __future__ import annotations

from collections.abc import Callable

from iamd.core.errors import (
    AwsError,
    InvalidInputException,
    InvalidRequestException,
    ValidationError,
    ValidationException,
)
from iamd.web.protocol.model import ServiceSpec
from iamd.web.protocol.validate import Rule, Violation, validation_message

#: Organizations' Reason and message per broken rule (reasons and sentences from its model's
#: InvalidInputException documentation; the pattern sentence as AWS answers it).
_ORGANIZATIONS_REASONS: dict[Rule, tuple[str, str]] = {
    Rule.REQUIRED: ("INPUT_REQUIRED", "You must include a value for all required parameters."),
    Rule.PATTERN: ("INVALID_PATTERN", "You provided a value that does not match the required pattern."),
    Rule.MIN_LENGTH: ("MIN_LENGTH_EXCEEDED", "You provided a string parameter that is shorter than allowed."),
    Rule.MAX_LENGTH: ("MAX_LENGTH_EXCEEDED", "You provided a string parameter that is longer than allowed."),
    Rule.ENUM: ("INVALID_ENUM", "You specified an invalid value."),
    Rule.MIN_VALUE: ("MIN_VALUE_EXCEEDED", "You provided a numeric parameter that has a smaller value than allowed."),
    Rule.MAX_VALUE: ("MAX_VALUE_EXCEEDED", "You provided a numeric parameter that has a larger value than allowed."),
}

#: Organizations' more specific reasons for some shapes.
_ORGANIZATIONS_SHAPE_REASONS: dict[tuple[Rule, str], tuple[str, str]] = {
    (Rule.ENUM, "PolicyType"): ("INVALID_ENUM_POLICY_TYPE", "You specified an invalid policy type string."),
    (Rule.PATTERN, "PolicyTargetId"): (
        "INVALID_PATTERN_TARGET_ID",
        "You specified a policy target ID that doesn't match the required pattern.",
    ),
    (Rule.PATTERN, "PolicyId"): ("INVALID_SYNTAX_POLICY_ID", "You specified an invalid policy ID."),
}


def _organizations(violations: list[Violation]) -> AwsError:
    first = violations[0]
    specific = _ORGANIZATIONS_SHAPE_REASONS.get((first.rule, first.shape.name))
    reason, message = specific or _ORGANIZATIONS_REASONS[first.rule]
    return InvalidInputException(message, Reason=reason)


def _sso(violations: list[Violation]) -> AwsError:
    return InvalidRequestException(validation_message(violations))


def _sso_oidc(violations: list[Violation]) -> AwsError:
    text = validation_message(violations)
    return InvalidRequestException(text, error="invalid_request", error_description=text)


_BY_SERVICE: dict[str, Callable[[list[Violation]], AwsError]] = {
    "organizations": _organizations,
    "sso": _sso,
    "sso-oidc": _sso_oidc,
}


def invalid_input_error(spec: ServiceSpec, violations: list[Violation]) -> AwsError:
    """The error ``spec``'s service answers for ``violations`` (not empty)."""
    if not violations:
        raise ValueError("invalid_input_error needs at least one violation")
    special = _BY_SERVICE.get(spec.name)
    if special is not None:
        return special(violations)
    if spec.protocol == "query":
        return ValidationError(validation_message(violations))
    return ValidationException(validation_message(violations))
