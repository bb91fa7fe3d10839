"""Every AWS error iamd can answer, one class each.

An error carries its AWS code, HTTP status and fault side (Sender or Receiver);
the protocol layer renders it.  Handlers raise these and never build XML.
"""

from __future__ import annotations

from typing import Any


class AwsError(Exception):
    code: str = "InternalFailure"
    status: int = 500
    sender_fault: bool = False
    default_message: str = ""

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(self.message)

    @property
    def fault_type(self) -> str:
        return "Sender" if self.sender_fault else "Receiver"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class _SenderError(AwsError):
    status = 400
    sender_fault = True


# --- common errors (all AWS query services) ---------------------------------------------


class InternalFailure(AwsError):
    code = "InternalFailure"
    status = 500
    default_message = "An internal error occurred. Please try again."


class ServiceUnavailable(AwsError):
    code = "ServiceUnavailable"
    status = 503
    default_message = "The request has failed due to a temporary failure of the server."


class NotImplementedOperation(AwsError):
    code = "NotImplemented"
    status = 501


class InvalidAction(_SenderError):
    code = "InvalidAction"


class MissingAction(_SenderError):
    code = "MissingAction"
    default_message = "Missing Action"


class MissingParameter(_SenderError):
    code = "MissingParameter"


class ValidationError(_SenderError):
    code = "ValidationError"


class InvalidParameterValue(_SenderError):
    code = "InvalidParameterValue"


class InvalidParameterCombination(_SenderError):
    code = "InvalidParameterCombination"


class MalformedQueryString(_SenderError):
    code = "MalformedQueryString"


class RequestEntityTooLarge(AwsError):
    code = "RequestEntityTooLarge"
    status = 413
    sender_fault = True
    default_message = "Request body is larger than the 1 MiB limit."


class InvalidHttpRequest(_SenderError):
    code = "InvalidHttpRequest"


class AccessDenied(AwsError):
    code = "AccessDenied"
    status = 403
    sender_fault = True


class OptInRequired(AwsError):
    code = "OptInRequired"
    status = 403
    sender_fault = True


# --- authentication -------------------------------------------------------------------------


class MissingAuthenticationToken(AwsError):
    code = "MissingAuthenticationToken"
    status = 403
    sender_fault = True
    default_message = "Request is missing Authentication Token"


class IncompleteSignature(_SenderError):
    code = "IncompleteSignature"


class InvalidClientTokenId(AwsError):
    code = "InvalidClientTokenId"
    status = 403
    sender_fault = True
    default_message = "The security token included in the request is invalid."


class SignatureDoesNotMatch(AwsError):
    code = "SignatureDoesNotMatch"
    status = 403
    sender_fault = True
    default_message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details."
    )


class ExpiredToken(AwsError):
    code = "ExpiredToken"
    status = 403
    sender_fault = True
    default_message = "The security token included in the request is expired"


# --- IAM (codes and statuses from botocore's iam model) -------------------------------------


class ConcurrentModification(AwsError):
    code = "ConcurrentModification"
    status = 409
    sender_fault = True


class CredentialReportExpired(AwsError):
    code = "ReportExpired"
    status = 410
    sender_fault = True


class CredentialReportNotPresent(AwsError):
    code = "ReportNotPresent"
    status = 410
    sender_fault = True


class CredentialReportNotReady(AwsError):
    code = "ReportInProgress"
    status = 404
    sender_fault = True


class DeleteConflict(AwsError):
    code = "DeleteConflict"
    status = 409
    sender_fault = True


class DuplicateCertificate(AwsError):
    code = "DuplicateCertificate"
    status = 409
    sender_fault = True


class DuplicateSSHPublicKey(_SenderError):
    code = "DuplicateSSHPublicKey"


class EntityAlreadyExists(AwsError):
    code = "EntityAlreadyExists"
    status = 409
    sender_fault = True


class EntityTemporarilyUnmodifiable(AwsError):
    code = "EntityTemporarilyUnmodifiable"
    status = 409
    sender_fault = True


class InvalidAuthenticationCode(AwsError):
    code = "InvalidAuthenticationCode"
    status = 403
    sender_fault = True


class InvalidCertificate(_SenderError):
    code = "InvalidCertificate"


class InvalidInput(_SenderError):
    code = "InvalidInput"


class InvalidPublicKey(_SenderError):
    code = "InvalidPublicKey"


class InvalidUserType(_SenderError):
    code = "InvalidUserType"


class KeyPairMismatch(_SenderError):
    code = "KeyPairMismatch"


class LimitExceeded(AwsError):
    code = "LimitExceeded"
    status = 409
    sender_fault = True


class MalformedCertificate(_SenderError):
    code = "MalformedCertificate"


class MalformedPolicyDocument(_SenderError):
    code = "MalformedPolicyDocument"


class NoSuchEntity(AwsError):
    code = "NoSuchEntity"
    status = 404
    sender_fault = True


class PasswordPolicyViolation(_SenderError):
    code = "PasswordPolicyViolation"


class PolicyNotAttachable(_SenderError):
    code = "PolicyNotAttachable"


class ReportGenerationLimitExceeded(AwsError):
    code = "ReportGenerationLimitExceeded"
    status = 409
    sender_fault = True


class ServiceFailure(AwsError):
    code = "ServiceFailure"
    status = 500


class ServiceNotSupported(AwsError):
    code = "NotSupportedService"
    status = 404
    sender_fault = True


class UnmodifiableEntity(_SenderError):
    code = "UnmodifiableEntity"


class UnrecognizedPublicKeyEncoding(_SenderError):
    code = "UnrecognizedPublicKeyEncoding"


# --- STS ---------------------------------------------------------------------------------------


class PackedPolicyTooLarge(_SenderError):
    code = "PackedPolicyTooLarge"


class RegionDisabled(AwsError):
    code = "RegionDisabledException"
    status = 403
    sender_fault = True


# --- AWS JSON 1.1 and REST-JSON protocols ---------------------------------------------------


class AwsErrorWithFields(AwsError):
    """An error whose JSON body carries modeled members besides the message.

    ``fields`` are keyed by the member names of the service model's exception shape
    (Organizations' ``Reason``, SSO-OIDC's ``error`` and ``error_description``); the JSON
    serializers write them next to the message.
    """

    def __init__(self, message: str | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.fields: dict[str, Any] = fields

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, **{self.fields!r})"


class SerializationException(_SenderError):
    """The request body or a bound value cannot be read as the model's type (malformed JSON,
    a string where a number belongs, bad base64 ...)."""

    code = "SerializationException"


class UnknownOperationException(_SenderError):
    """JSON protocol: ``X-Amz-Target`` (or the content type) names no operation of the service."""

    code = "UnknownOperationException"


class UnknownOperationPath(UnknownOperationException):
    """REST protocol: no operation is bound to the request's method and path."""

    status = 404


class UnsupportedMediaTypeException(AwsError):
    code = "UnsupportedMediaTypeException"
    status = 415
    sender_fault = True


class ValidationException(AwsErrorWithFields):
    """Input that breaks the model's constraints, for services whose model names
    ``ValidationException`` (identitystore, rolesanywhere, sso-admin ...)."""

    code = "ValidationException"
    status = 400
    sender_fault = True


class InvalidInputException(AwsErrorWithFields):
    """Organizations' answer to invalid input; ``Reason`` says which rule was broken."""

    code = "InvalidInputException"
    status = 400
    sender_fault = True


class InvalidRequestException(AwsErrorWithFields):
    """SSO (portal) and SSO-OIDC's answer to invalid input (SSO-OIDC adds ``error`` and
    ``error_description``, OAuth style)."""

    code = "InvalidRequestException"
    status = 400
    sender_fault = True


# --- STS federation (AssumeRoleWithWebIdentity, AssumeRoleWithSAML) ---------------------------


class InvalidIdentityToken(_SenderError):
    """A web identity token or SAML assertion that cannot be validated (signature, issuer, audience...)."""

    code = "InvalidIdentityToken"


class ExpiredTokenException(_SenderError):
    """An expired web identity token or SAML assertion (not the 403 ``ExpiredToken`` of a session token)."""

    code = "ExpiredTokenException"


class IDPCommunicationError(_SenderError):
    """The identity provider that must vouch for a token (its discovery document, its keys) cannot be reached."""

    code = "IDPCommunicationError"


class IDPRejectedClaim(AwsError):
    code = "IDPRejectedClaim"
    status = 403
    sender_fault = True
