"""SAML 2.0 responses for AssumeRoleWithSAML, verified as AWS STS does.  Pure: no I/O, time given.

:func:`verify_saml_response` takes the base64 ``SAMLAssertion`` parameter and the SAML provider it is
sent for (``PrincipalArn``: its entity id and signing certificates from its metadata) and returns a
:class:`SamlAssertion`: the subject, the ``Role`` pairs, the session name, duration, tags and source
identity, the assertion id (for the replay table), and the ``saml:*`` condition keys.

Trust comes only from signatures (see :mod:`iamd.auth.saml_xml`): the response's signature (then its
one assertion is read from the signed response), else the assertion's own signature.  Then, on signed
data only: issuer = the provider's entity id, ``Conditions`` times and ``AudienceRestriction``, one
bearer ``SubjectConfirmation`` whose ``Recipient`` is an accepted endpoint and whose ``NotOnOrAfter``
is in the future, the ``IssueInstant`` no older than five minutes (AWS: "Token must be redeemed within
5 minutes of issuance").
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from iamd.auth.saml_claims import SamlAttributes, read_attributes
from iamd.auth.saml_decrypt import decrypt_assertion
from iamd.auth.saml_xml import (
    NOT_A_SAML_RESPONSE,
    SIGNATURE_INVALID,
    Element,
    decode_base64_document,
    duplicate_ids,
    has_enveloped_signature,
    parse_xml,
    tag,
    text_of,
    verify_enveloped,
)
from iamd.core.errors import AccessDenied, ExpiredTokenException, IDPRejectedClaim, InvalidIdentityToken

MAX_SAML_ASSERTION_LENGTH = 100_000
"""AssumeRoleWithSAML's SAMLAssertion: 4 to 100000 characters (botocore's SAMLAssertionType)."""

AWS_SIGNIN_SAML = "https://signin.aws.amazon.com/saml"
AWS_AUDIENCES = (AWS_SIGNIN_SAML, "urn:amazon:webservices")
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
REDEEM_WITHIN = "Token must be redeemed within 5 minutes of issuance"
REPLAYED = "SAML assertion has already been used"

_SHORT_FORMATS = {
    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent": "persistent",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient": "transient",
}


@dataclass(frozen=True)
class SamlSettings:
    accepted_recipients: tuple[str, ...] = (AWS_SIGNIN_SAML,)
    """SubjectConfirmationData ``Recipient`` values accepted: AWS's sign-in endpoint, plus iamd's own
    (``https://IAMD/saml``) when the operator adds it for console sign-in."""
    accepted_audiences: tuple[str, ...] = AWS_AUDIENCES
    leeway_seconds: int = 60
    """Clock skew allowed on every time in the assertion."""
    max_age_seconds: int = 300
    """How long after its ``IssueInstant`` an assertion may be redeemed (AWS: five minutes)."""
    allow_sha1: bool = False
    """Accept RSA-SHA1 signatures and SHA-1 digests (old ADFS defaults).  Off: SHA-256 and up only."""


@dataclass(frozen=True)
class SamlProviderTrust:
    """What verification needs of an IAM SAML provider: parsed from its metadata by the store."""

    arn: str
    """``arn:PARTITION:iam::ACCOUNT:saml-provider/NAME``."""
    entity_id: str
    certificates: tuple[x509.Certificate, ...]
    decryption_keys: tuple[rsa.RSAPrivateKey, ...] = ()
    """The provider's private keys (AddPrivateKey): encrypted assertions are accepted only with them."""
    encryption_required: bool = False
    """AssertionEncryptionMode ``Required``: a plain assertion is refused."""

    @property
    def account_id(self) -> str:
        return self.arn.split(":")[4]

    @property
    def name(self) -> str:
        return self.arn.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class SamlAssertion:
    assertion_id: str
    """The signed assertion's ``ID``: the key of the replay table until ``expires_at``."""
    response_id: str | None
    issuer: str
    subject: str
    subject_type: str
    """``persistent``, ``transient`` or the NameID ``Format`` URI (``saml:sub_type``)."""
    recipient: str
    """``saml:aud`` and the answer's ``Audience``: the Recipient, not the AudienceRestriction."""
    issued_at: float
    expires_at: float
    """The earliest NotOnOrAfter of the subject confirmation and the conditions."""
    attributes: SamlAttributes
    name_qualifier: str
    provider_arn: str
    doc: str
    """``saml:doc``: ``ACCOUNT/PROVIDER-NAME``."""
    signed_parts: tuple[str, ...] = field(default_factory=tuple)
    """``Response`` and/or ``Assertion``: which signatures were verified."""

    def condition_keys(self) -> dict[str, str | list[str]]:
        keys: dict[str, str | list[str]] = {
            "saml:aud": self.recipient,
            "saml:iss": self.issuer,
            "saml:sub": self.subject,
            "saml:sub_type": self.subject_type,
            "saml:namequalifier": self.name_qualifier,
            "saml:doc": self.doc,
        }
        keys.update(self.attributes.condition_keys)
        return keys


def name_qualifier(issuer: str, account_id: str, provider_name: str) -> str:
    """``saml:namequalifier``: BASE64(SHA1(issuer + account id + "/" + provider name)), as AWS documents."""
    digest = hashlib.sha1(f"{issuer}{account_id}/{provider_name}".encode(), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def parse_instant(value: str | None, what: str) -> float:
    """An xs:dateTime (UTC, ``Z`` or an offset, optional fractions) as epoch seconds."""
    if not value:
        raise InvalidIdentityToken(f"The SAML assertion has no {what}")
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidIdentityToken(f"The SAML assertion's {what} is not a valid date and time") from exc
    if when.tzinfo is None:
        raise InvalidIdentityToken(f"The SAML assertion's {what} must be in UTC")
    return when.timestamp()


# --- the trusted assertion ---------------------------------------------------------------------------


def check_structure(root: Element) -> None:
    """First line against signature wrapping: one assertion in the whole document, every ID unique.

    (The second line does not depend on it: only signed content is read, see :func:`_trusted_assertion`.)
    """
    if duplicate_ids(root):
        raise InvalidIdentityToken("The SAML response contains duplicate ID attributes")
    plain = root.findall(f".//{tag('saml', 'Assertion')}")
    if len(plain) + len(root.findall(f".//{tag('saml', 'EncryptedAssertion')}")) != 1:
        raise InvalidIdentityToken("The SAML response must contain exactly one assertion")


def _trusted_assertion(root: Element, trust: SamlProviderTrust, allow_sha1: bool) -> tuple[Element, tuple[str, ...]]:
    """The assertion to read, taken only from verified signed content, and which signatures covered it."""
    if root.tag != tag("samlp", "Response"):
        raise InvalidIdentityToken(NOT_A_SAML_RESPONSE)
    encrypted = root.findall(f".//{tag('saml', 'EncryptedAssertion')}")
    if encrypted and not trust.decryption_keys:
        raise InvalidIdentityToken("Encrypted SAML assertions are not supported by this provider")
    if not encrypted and trust.encryption_required:
        raise InvalidIdentityToken("This provider accepts encrypted SAML assertions only")
    check_structure(root)
    signed: list[str] = []
    response = root
    if has_enveloped_signature(root):
        response = verify_enveloped(root, trust.certificates, allow_sha1=allow_sha1)
        signed.append("Response")
    # Read only from the verified response (or, unsigned, the document; then the assertion must be signed).
    assertions = response.findall(tag("saml", "Assertion"))
    encrypted = response.findall(tag("saml", "EncryptedAssertion"))
    if len(assertions) + len(encrypted) != 1:
        raise InvalidIdentityToken("The SAML response must contain exactly one assertion")
    if assertions:
        assertion = assertions[0]
    else:
        posted = root.find(f".//{tag('saml', 'EncryptedAssertion')}")  # the only one (check_structure)
        context = posted.nsmap if posted is not None else None
        assertion = decrypt_assertion(encrypted[0], trust.decryption_keys, context)
    if has_enveloped_signature(assertion):
        assertion = verify_enveloped(assertion, trust.certificates, allow_sha1=allow_sha1)
        signed.append("Assertion")
    if not signed:
        raise InvalidIdentityToken(SIGNATURE_INVALID)  # neither the response nor its assertion is signed
    status = response.find(f"{tag('samlp', 'Status')}/{tag('samlp', 'StatusCode')}")
    if status is None or status.get("Value") != STATUS_SUCCESS:
        code = status.get("Value") if status is not None else "none"
        raise IDPRejectedClaim(f"The identity provider reported that authentication failed (status {code})")
    return assertion, tuple(signed)


def _subject(assertion: Element, settings: SamlSettings, now: float) -> tuple[str, str, str, float]:
    """(NameID, sub_type, Recipient, NotOnOrAfter) of the one bearer confirmation."""
    subject = assertion.find(tag("saml", "Subject"))
    if subject is None:
        raise InvalidIdentityToken("The SAML assertion has no Subject")
    name_id = subject.find(tag("saml", "NameID"))
    if name_id is None or not text_of(name_id).strip():
        raise InvalidIdentityToken("The SAML assertion has no NameID")
    value = text_of(name_id).strip()
    name_format = name_id.get("Format") or "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    confirmations = subject.findall(tag("saml", "SubjectConfirmation"))
    if len(confirmations) != 1 or confirmations[0].get("Method") != BEARER:
        raise InvalidIdentityToken("The SAML assertion must have exactly one bearer SubjectConfirmation")
    data = confirmations[0].find(tag("saml", "SubjectConfirmationData"))
    if data is None:
        raise InvalidIdentityToken("The SAML SubjectConfirmation has no SubjectConfirmationData")
    recipient = data.get("Recipient")
    if recipient not in settings.accepted_recipients:
        raise InvalidIdentityToken(f"The SAML assertion's Recipient {recipient} is not an accepted endpoint")
    not_on_or_after = parse_instant(data.get("NotOnOrAfter"), "SubjectConfirmationData NotOnOrAfter")
    if now >= not_on_or_after + settings.leeway_seconds:
        raise ExpiredTokenException("The SAML assertion has expired (SubjectConfirmationData NotOnOrAfter)")
    if data.get("NotBefore") is not None and now + settings.leeway_seconds < parse_instant(
        data.get("NotBefore"), "NotBefore"
    ):
        raise InvalidIdentityToken("The SAML assertion is not valid yet (SubjectConfirmationData NotBefore)")
    return value, _SHORT_FORMATS.get(name_format, name_format), recipient, not_on_or_after


def _conditions(assertion: Element, settings: SamlSettings, now: float) -> float | None:
    conditions = assertion.find(tag("saml", "Conditions"))
    if conditions is None:
        raise InvalidIdentityToken("The SAML assertion has no Conditions with an AudienceRestriction")
    leeway = settings.leeway_seconds
    if conditions.get("NotBefore") is not None and now + leeway < parse_instant(
        conditions.get("NotBefore"), "NotBefore"
    ):
        raise InvalidIdentityToken("The SAML assertion is not valid yet (Conditions NotBefore)")
    until: float | None = None
    if conditions.get("NotOnOrAfter") is not None:
        until = parse_instant(conditions.get("NotOnOrAfter"), "Conditions NotOnOrAfter")
        if now >= until + leeway:
            raise ExpiredTokenException("The SAML assertion has expired (Conditions NotOnOrAfter)")
    restrictions = conditions.findall(tag("saml", "AudienceRestriction"))
    if not restrictions:
        raise InvalidIdentityToken("The SAML assertion has no AudienceRestriction")
    for restriction in restrictions:  # every restriction must admit us (SAML core 2.5.1.4)
        audiences = {text_of(a).strip() for a in restriction.findall(tag("saml", "Audience"))}
        if not audiences & set(settings.accepted_audiences):
            raise InvalidIdentityToken("The SAML assertion's audience restriction does not name this service")
    return until


def verify_saml_response(
    saml_assertion: str,
    provider: SamlProviderTrust,
    now: float,
    settings: SamlSettings | None = None,
    *,
    already_used: Callable[[str], bool] | None = None,
) -> SamlAssertion:
    """Verify an AssumeRoleWithSAML ``SAMLAssertion`` for ``provider``; AWS's errors otherwise.

    ``already_used(assertion_id)`` answers whether the assertion was redeemed before (stage 2: a table
    shared by every node, keyed by provider and assertion id, kept until the assertion expires).
    """
    settings = settings or SamlSettings()
    if not 4 <= len(saml_assertion) <= MAX_SAML_ASSERTION_LENGTH:
        raise InvalidIdentityToken(NOT_A_SAML_RESPONSE)
    root = parse_xml(decode_base64_document(saml_assertion, max_bytes=MAX_SAML_ASSERTION_LENGTH))
    assertion, signed = _trusted_assertion(root, provider, settings.allow_sha1)
    issuer = text_of(assertion.find(tag("saml", "Issuer"))).strip()
    if issuer != provider.entity_id:
        raise InvalidIdentityToken(
            f"The SAML assertion's issuer {issuer or '(none)'} is not the provider's entity id {provider.entity_id}"
        )
    assertion_id = assertion.get("ID")
    if not assertion_id:
        raise InvalidIdentityToken("The SAML assertion has no ID")
    issued_at = parse_instant(assertion.get("IssueInstant"), "IssueInstant")
    if now + settings.leeway_seconds < issued_at:
        raise InvalidIdentityToken("The SAML assertion was issued in the future")
    if now - issued_at > settings.max_age_seconds + settings.leeway_seconds:
        raise ExpiredTokenException(REDEEM_WITHIN)
    sub, sub_type, recipient, confirmation_until = _subject(assertion, settings, now)
    conditions_until = _conditions(assertion, settings, now)
    attributes = read_attributes(assertion)
    if already_used is not None and already_used(assertion_id):
        raise InvalidIdentityToken(REPLAYED)
    expires = min(t for t in (confirmation_until, conditions_until) if t is not None)
    return SamlAssertion(
        assertion_id=assertion_id,
        response_id=root.get("ID"),
        issuer=issuer,
        subject=sub,
        subject_type=sub_type,
        recipient=recipient,
        issued_at=issued_at,
        expires_at=expires,
        attributes=attributes,
        name_qualifier=name_qualifier(issuer, provider.account_id, provider.name),
        provider_arn=provider.arn,
        doc=f"{provider.account_id}/{provider.name}",
        signed_parts=signed,
    )


def select_role(assertion: SamlAssertion, role_arn: str, principal_arn: str) -> None:
    """The request's RoleArn/PrincipalArn must be one of the assertion's Role pairs."""
    if (role_arn, principal_arn) not in assertion.attributes.roles:
        raise AccessDenied("Not authorized to perform sts:AssumeRoleWithSAML")
