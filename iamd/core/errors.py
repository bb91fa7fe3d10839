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


# --- AWS Organizations (codes from botocore's organizations model; messages from its documentation) ---


class _OrganizationsError(AwsError):
    status = 400
    sender_fault = True


class _OrganizationsErrorWithReason(AwsErrorWithFields):
    """Organizations errors whose body carries a ``Reason`` (``ConstraintViolationException``...)."""

    status = 400
    sender_fault = True

    def __init__(self, message: str | None = None, *, reason: str) -> None:
        super().__init__(message, Reason=reason)

    @property
    def reason(self) -> str:
        return str(self.fields["Reason"])


class AWSOrganizationsNotInUseException(_OrganizationsError):
    code = "AWSOrganizationsNotInUseException"
    default_message = "Your account is not a member of an organization."


class AccessDeniedException(_OrganizationsError):
    """Organizations (and other JSON services): the caller may not do this (a member account calling an
    operation only the management account may call, for one)."""

    code = "AccessDeniedException"
    default_message = "You don't have permissions to access this resource."


class AccountAlreadyRegisteredException(_OrganizationsError):
    code = "AccountAlreadyRegisteredException"
    default_message = "The specified account is already a delegated administrator for this AWS service."


class AccountNotFoundException(_OrganizationsError):
    code = "AccountNotFoundException"
    default_message = "You specified an account that doesn't exist."


class AccountNotRegisteredException(_OrganizationsError):
    code = "AccountNotRegisteredException"
    default_message = "The specified account is not a delegated administrator for this AWS service."


class AlreadyInOrganizationException(_OrganizationsError):
    code = "AlreadyInOrganizationException"
    default_message = "This account is already a member of an organization."


class ChildNotFoundException(_OrganizationsError):
    code = "ChildNotFoundException"
    default_message = "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified."


class ConcurrentModificationException(_OrganizationsError):
    code = "ConcurrentModificationException"
    default_message = "The target of the operation is currently being modified by a different request. Try again later."


class ConstraintViolationException(_OrganizationsErrorWithReason):
    """A minimum or maximum limit would be broken; ``Reason`` names which
    (``MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED``...)."""

    code = "ConstraintViolationException"


class CreateAccountStatusNotFoundException(_OrganizationsError):
    code = "CreateAccountStatusNotFoundException"
    default_message = "We can't find a create account request with the CreateAccountRequestId that you specified."


class DestinationParentNotFoundException(_OrganizationsError):
    code = "DestinationParentNotFoundException"
    default_message = "We can't find the destination container (a root or OU) with the ParentId that you specified."


class DuplicateAccountException(_OrganizationsError):
    code = "DuplicateAccountException"
    default_message = "That account is already present in the specified destination."


class DuplicateHandshakeException(_OrganizationsError):
    code = "DuplicateHandshakeException"
    default_message = "A handshake with the same action and target already exists."


class DuplicateOrganizationalUnitException(_OrganizationsError):
    code = "DuplicateOrganizationalUnitException"
    default_message = "An OU with the same name already exists."


class DuplicatePolicyAttachmentException(_OrganizationsError):
    code = "DuplicatePolicyAttachmentException"
    default_message = "The selected policy is already attached to the specified target."


class DuplicatePolicyException(_OrganizationsError):
    code = "DuplicatePolicyException"
    default_message = "A policy with the same name already exists."


class HandshakeAlreadyInStateException(_OrganizationsError):
    code = "HandshakeAlreadyInStateException"
    default_message = "The specified handshake is already in the requested state."


class HandshakeConstraintViolationException(_OrganizationsErrorWithReason):
    code = "HandshakeConstraintViolationException"


class HandshakeNotFoundException(_OrganizationsError):
    code = "HandshakeNotFoundException"
    default_message = "We can't find a handshake with the HandshakeId that you specified."


class InvalidHandshakeTransitionException(_OrganizationsError):
    code = "InvalidHandshakeTransitionException"
    default_message = "You can't perform the operation on the handshake in its current state."


class MalformedPolicyDocumentException(_OrganizationsError):
    code = "MalformedPolicyDocumentException"
    default_message = "The provided policy document doesn't meet the requirements of the specified policy type."


class MasterCannotLeaveOrganizationException(_OrganizationsError):
    code = "MasterCannotLeaveOrganizationException"
    default_message = (
        "You can't remove a management account from an organization. If you want the management account to "
        "become a member account in another organization, you must first delete the current organization of "
        "the management account."
    )


class OrganizationNotEmptyException(_OrganizationsError):
    code = "OrganizationNotEmptyException"
    default_message = (
        "The organization isn't empty. To delete an organization, you must first remove all accounts except "
        "the management account."
    )


class OrganizationalUnitNotEmptyException(_OrganizationsError):
    code = "OrganizationalUnitNotEmptyException"
    default_message = (
        "The specified OU is not empty. Move all accounts to another root or to other OUs, remove all child "
        "OUs, and try the operation again."
    )


class OrganizationalUnitNotFoundException(_OrganizationsError):
    code = "OrganizationalUnitNotFoundException"
    default_message = "We can't find an OU with the OrganizationalUnitId that you specified."


class ParentNotFoundException(_OrganizationsError):
    code = "ParentNotFoundException"
    default_message = "We can't find a root or OU with the ParentId that you specified."


class PolicyInUseException(_OrganizationsError):
    code = "PolicyInUseException"
    default_message = (
        "The policy is attached to one or more entities. You must detach it from all roots, OUs, and accounts "
        "before performing this operation."
    )


class PolicyNotAttachedException(_OrganizationsError):
    code = "PolicyNotAttachedException"
    default_message = "The policy isn't attached to the specified target in the specified root."


class PolicyNotFoundException(_OrganizationsError):
    code = "PolicyNotFoundException"
    default_message = "We can't find a policy with the PolicyId that you specified."


class PolicyTypeAlreadyEnabledException(_OrganizationsError):
    code = "PolicyTypeAlreadyEnabledException"
    default_message = "The specified policy type is already enabled in the specified root."


class PolicyTypeNotAvailableForOrganizationException(_OrganizationsError):
    code = "PolicyTypeNotAvailableForOrganizationException"
    default_message = (
        "You can't use the specified policy type with the feature set currently enabled for this organization."
    )


class PolicyTypeNotEnabledException(_OrganizationsError):
    code = "PolicyTypeNotEnabledException"
    default_message = (
        "The specified policy type isn't currently enabled in this root. You can't attach policies of the "
        "specified type to entities in a root until you enable that type in the root."
    )


class RootNotFoundException(_OrganizationsError):
    code = "RootNotFoundException"
    default_message = "We can't find a root with the RootId that you specified."


class ServiceException(AwsError):
    code = "ServiceException"
    status = 500
    default_message = "Organizations can't complete your request because of an internal service error. Try again later."


class SourceParentNotFoundException(_OrganizationsError):
    code = "SourceParentNotFoundException"
    default_message = "We can't find a source root or OU with the ParentId that you specified."


class TargetNotFoundException(_OrganizationsError):
    code = "TargetNotFoundException"
    default_message = "We can't find a root, OU, account, or policy with the TargetId that you specified."
