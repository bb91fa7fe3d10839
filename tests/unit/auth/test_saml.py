"""SAML responses of a real IdP (pysaml2 + xmlsec1) verified by iamd/auth/saml.py; metadata parsing."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from iamd.auth.saml import (
    REDEEM_WITHIN,
    SamlAssertion,
    SamlProviderTrust,
    SamlSettings,
    name_qualifier,
    select_role,
    verify_saml_response,
)
from iamd.auth.saml_claims import parse_role_pair
from iamd.auth.saml_metadata import parse_saml_metadata
from iamd.core.errors import AccessDenied, ExpiredTokenException, InvalidIdentityToken, InvalidInput
from tests.support.saml_idp import OTHER_ACS, OTHER_SP, SamlIdp, b64, self_signed

pytestmark = pytest.mark.slow

ACCOUNT = "123456789012"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/TestIdP"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/Admin"
A = "https://aws.amazon.com/SAML/Attributes/"


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamlIdp]:
    yield SamlIdp(tmp_path_factory.mktemp("saml-idp"))


@pytest.fixture(scope="module")
def trust(idp: SamlIdp) -> SamlProviderTrust:
    metadata = parse_saml_metadata(idp.metadata())
    return SamlProviderTrust(PROVIDER_ARN, metadata.entity_id, metadata.signing_certificates)


def attributes(**overrides: Any) -> dict[str, list[str]]:
    base = {
        A + "Role": [f"{ROLE_ARN},{PROVIDER_ARN}"],
        A + "RoleSessionName": ["alice@example.com"],
    }
    base.update({A + k: v for k, v in overrides.items()})
    return {k: v for k, v in base.items() if v is not None}


def verify(xml: str, trust: SamlProviderTrust, now: float | None = None, **settings: Any) -> SamlAssertion:
    return verify_saml_response(b64(xml), trust, time.time() if now is None else now, SamlSettings(**settings))


# --- accepted responses -----------------------------------------------------------------------------


@pytest.mark.parametrize(("sign_response", "sign_assertion"), [(True, True), (True, False), (False, True)])
def test_a_signed_response_or_assertion_verifies(
    idp: SamlIdp, trust: SamlProviderTrust, sign_response: bool, sign_assertion: bool
) -> None:
    xml = idp.response(attributes=attributes(), sign_response=sign_response, sign_assertion=sign_assertion)
    result = verify(xml, trust)
    expected = tuple(p for p, on in (("Response", sign_response), ("Assertion", sign_assertion)) if on)
    assert result.signed_parts == expected
    assert (result.subject, result.subject_type, result.issuer) == ("alice-persistent-id", "persistent", idp.entity_id)
    assert result.recipient == "https://signin.aws.amazon.com/saml"
    assert result.attributes.roles == ((ROLE_ARN, PROVIDER_ARN),)
    assert result.attributes.role_session_name == "alice@example.com"
    assert result.assertion_id.startswith("id-")
    assert result.expires_at > time.time()


def test_the_condition_keys_aws_documents(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    xml = idp.response(
        attributes=attributes(
            **{"PrincipalTag:Project": ["Automation"], "PrincipalTag:CostCenter": ["12345"]},
            TransitiveTagKeys=["Project"],
        )
        | {
            "urn:oid:1.3.6.1.4.1.5923.1.1.1.1": ["faculty", "staff"],
            "urn:oid:1.3.6.1.4.1.5923.1.1.1.6": ["alice@example.edu"],
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": ["alice@example.com"],
            "urn:oid:2.5.4.3": ["Alice Example"],
        }
    )
    result = verify(xml, trust)
    qualifier = base64.b64encode(
        hashlib.sha1(f"{idp.entity_id}{ACCOUNT}/TestIdP".encode(), usedforsecurity=False).digest()
    ).decode()
    assert result.condition_keys() == {
        "saml:aud": "https://signin.aws.amazon.com/saml",
        "saml:iss": idp.entity_id,
        "saml:sub": "alice-persistent-id",
        "saml:sub_type": "persistent",
        "saml:namequalifier": qualifier,
        "saml:doc": f"{ACCOUNT}/TestIdP",
        "saml:edupersonaffiliation": ["faculty", "staff"],
        "saml:edupersonprincipalname": "alice@example.edu",
        "saml:mail": "alice@example.com",
        "saml:cn": ["Alice Example"],
    }
    assert result.attributes.principal_tags == {"Project": "Automation", "CostCenter": "12345"}
    assert result.attributes.transitive_tag_keys == ("Project",)


def test_name_qualifier_is_aws_documented_hash() -> None:
    expected = base64.b64encode(
        hashlib.sha1(b"https://example.com/saml123456789012/MySAMLIdP", usedforsecurity=False).digest()
    ).decode()
    assert name_qualifier("https://example.com/saml", "123456789012", "MySAMLIdP") == expected


def test_session_duration_and_source_identity(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    result = verify(idp.response(attributes=attributes(SessionDuration=["1800"], SourceIdentity=["alice"])), trust)
    assert (result.attributes.session_duration, result.attributes.source_identity) == (1800, "alice")


def test_transient_and_other_name_id_formats(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    transient = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    assert verify(idp.response(attributes=attributes(), name_id_format=transient), trust).subject_type == "transient"
    email = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    assert verify(idp.response("a@example.com", attributes(), name_id_format=email), trust).subject_type == email


def test_role_pairs_in_either_order_and_several(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    other = f"arn:aws:iam::{ACCOUNT}:role/ReadOnly"
    xml = idp.response(attributes=attributes(Role=[f"{PROVIDER_ARN},{ROLE_ARN}", f"{other}, {PROVIDER_ARN}"]))
    result = verify(xml, trust)
    assert result.attributes.roles == ((ROLE_ARN, PROVIDER_ARN), (other, PROVIDER_ARN))
    select_role(result, other, PROVIDER_ARN)
    with pytest.raises(AccessDenied, match="Not authorized to perform sts:AssumeRoleWithSAML"):
        select_role(result, f"arn:aws:iam::{ACCOUNT}:role/Root", PROVIDER_ARN)


@pytest.mark.parametrize(
    "value", ["arn:aws:iam::123456789012:role/Admin", "a,b", f"{ROLE_ARN},{ROLE_ARN}", f"{ROLE_ARN},{PROVIDER_ARN},x"]
)
def test_malformed_role_pairs(value: str) -> None:
    with pytest.raises(InvalidIdentityToken, match="Role attribute"):
        parse_role_pair(value)


# --- refused attributes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Role": None}, "no https://aws.amazon.com/SAML/Attributes/Role attribute"),
        ({"RoleSessionName": None}, "no https://aws.amazon.com/SAML/Attributes/RoleSessionName"),
        ({"RoleSessionName": ["John Doe"]}, "RoleSessionName must be 2 to 64"),
        ({"RoleSessionName": ["a", "b"]}, "exactly one value"),
        ({"SessionDuration": ["60"]}, "SessionDuration must be"),
        ({"SessionDuration": ["1h"]}, "SessionDuration must be"),
        ({"SourceIdentity": ["x"]}, "SourceIdentity must be"),
        ({"PrincipalTag:aws:x": ["1"]}, "Invalid session tag key"),
        ({"PrincipalTag:Team": ["a"], "PrincipalTag:team": ["b"]}, "case insensitive"),
        ({"PrincipalTag:Team": ["a", "b"]}, "exactly one value"),
        ({"PrincipalTag:Team": ["a"], "TransitiveTagKeys": ["Other"]}, "not among the session tags"),
    ],
)
def test_attributes_outside_aws_rules_are_refused(
    idp: SamlIdp, trust: SamlProviderTrust, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidIdentityToken, match=message):
        verify(idp.response(attributes=attributes(**overrides)), trust)


def test_more_than_fifty_session_tags_are_refused(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    many = {f"PrincipalTag:k{i}": ["v"] for i in range(51)}
    with pytest.raises(InvalidIdentityToken, match="at most 50"):
        verify(idp.response(attributes=attributes(**many)), trust)


# --- conditions and times ------------------------------------------------------------------------------


def test_an_assertion_past_its_not_on_or_after_is_expired(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    xml = idp.response(attributes=attributes())
    # The IdP gives five minutes; redeeming after that (and after the leeway) fails either way.
    with pytest.raises(ExpiredTokenException):
        verify(xml, trust, now=time.time() + 3600)


def test_an_assertion_must_be_redeemed_within_five_minutes_of_issuance(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    xml = idp.response(attributes=attributes())
    with pytest.raises(ExpiredTokenException, match=REDEEM_WITHIN):
        verify(xml, trust, now=time.time() + 301, leeway_seconds=0, max_age_seconds=300)


def test_an_assertion_from_the_future_is_refused(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    with pytest.raises(InvalidIdentityToken, match=r"future|not valid yet"):
        verify(idp.response(attributes=attributes()), trust, now=time.time() - 3600)


def test_skew_within_the_leeway_is_accepted(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    assert verify(idp.response(attributes=attributes()), trust, now=time.time() - 30).subject


def test_another_service_providers_audience_and_recipient_are_refused(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    foreign = idp.response(attributes=attributes(), sp=OTHER_SP, destination=OTHER_ACS)
    with pytest.raises(InvalidIdentityToken, match="Recipient"):
        verify(foreign, trust)
    # An operator who adds the other endpoint as a recipient still needs the audience.
    with pytest.raises(InvalidIdentityToken, match="audience"):
        verify(foreign, trust, accepted_recipients=(OTHER_ACS,))
    accepted = verify(foreign, trust, accepted_recipients=(OTHER_ACS,), accepted_audiences=(OTHER_SP,))
    assert accepted.recipient == OTHER_ACS


def test_the_right_audience_with_a_foreign_recipient_is_refused(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    xml = idp.response(attributes=attributes(), destination=OTHER_ACS)
    with pytest.raises(InvalidIdentityToken, match="Recipient"):
        verify(xml, trust)


def test_sha1_signatures_only_when_allowed(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    xml = idp.response(attributes=attributes(), sha1=True)
    with pytest.raises(InvalidIdentityToken, match="Response signature invalid"):
        verify(xml, trust)
    assert verify(xml, trust, allow_sha1=True).subject == "alice-persistent-id"


def test_another_providers_certificate_does_not_verify(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    _, stranger = self_signed("stranger")
    other = SamlProviderTrust(PROVIDER_ARN, trust.entity_id, (stranger,))
    with pytest.raises(InvalidIdentityToken, match="Response signature invalid"):
        verify(idp.response(attributes=attributes()), other)
    # With both certificates (a rotation in progress) the IdP's signature verifies.
    both = SamlProviderTrust(PROVIDER_ARN, trust.entity_id, (stranger, *trust.certificates))
    assert verify(idp.response(attributes=attributes()), both).subject


def test_the_issuer_must_be_the_providers_entity_id(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    other = SamlProviderTrust(PROVIDER_ARN, "https://someone-else.example/saml", trust.certificates)
    with pytest.raises(InvalidIdentityToken, match="issuer"):
        verify(idp.response(attributes=attributes()), other)


def test_replayed_assertion_ids_are_refused(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    seen: set[str] = set()

    def already_used(assertion_id: str) -> bool:
        if assertion_id in seen:
            return True
        seen.add(assertion_id)
        return False

    encoded = b64(idp.response(attributes=attributes()))
    first = verify_saml_response(encoded, trust, time.time(), already_used=already_used)
    with pytest.raises(InvalidIdentityToken, match="already been used"):
        verify_saml_response(encoded, trust, time.time(), already_used=already_used)
    assert seen == {first.assertion_id}


@pytest.mark.parametrize("value", ["", "abc", "not base64 !!!", base64.b64encode(b"<a/>").decode(), "x" * 100_001])
def test_what_is_not_a_saml_response(trust: SamlProviderTrust, value: str) -> None:
    with pytest.raises(InvalidIdentityToken):
        verify_saml_response(value, trust, time.time())


def test_base64_with_line_breaks_is_accepted(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    encoded = b64(idp.response(attributes=attributes()))
    wrapped = "\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    assert verify_saml_response(wrapped, trust, time.time()).subject


# --- metadata ----------------------------------------------------------------------------------------------


def test_metadata_of_the_idp(idp: SamlIdp) -> None:
    metadata = parse_saml_metadata(idp.metadata())
    assert metadata.entity_id == idp.entity_id
    assert metadata.signing_certificates == (idp.certificate,)
    assert metadata.valid_until is not None and metadata.valid_until > time.time()
    assert metadata.sso_urls == ("https://idp.example.test/sso",)


def _metadata(body: str, root_attrs: str = "") -> str:
    text = (
        '<?xml version="1.0"?>\n'
        f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example/x" {root_attrs}>{body}'
        "</md:EntityDescriptor>"
    )
    return text + "<!-- " + "padding " * 130 + "-->"


def test_metadata_without_signing_certificates_is_refused(idp: SamlIdp) -> None:
    encryption_only = (
        '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        + base64.b64encode(idp.certificate.public_bytes(Encoding.DER)).decode()  # type: ignore[union-attr]
        + "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor></md:IDPSSODescriptor>"
    )
    with pytest.raises(InvalidInput, match="no signing certificate"):
        parse_saml_metadata(_metadata(encryption_only))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("<x/>", "1000 to 10000000"),
        (_metadata(""), "no IDPSSODescriptor"),
        (_metadata("<md:IDPSSODescriptor/>", 'validUntil="tomorrow"'), "validUntil"),
        ("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e 'x'>]>" + _metadata(""), "document type declaration"),
        (_metadata("<unclosed>"), "not well-formed"),
    ],
)
def test_bad_metadata_is_invalid_input(document: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_saml_metadata(document)
