"""Attacks on AssumeRoleWithSAML: XML signature wrapping (the eight XSW shapes), comment injection,
signatures that cover something else, tampering, foreign keys, DTDs and entities.

Every attack starts from a genuine response signed by a real IdP (pysaml2 + xmlsec1) and must be refused -
or, for comment injection, read exactly as the IdP signed it.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator

import pytest
from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import CanonicalizationMethod

from iamd.auth import saml
from iamd.auth.saml import SamlProviderTrust, verify_saml_response
from iamd.core.errors import IDPRejectedClaim, InvalidIdentityToken
from tests.support.saml_idp import SamlIdp, b64, self_signed

pytestmark = pytest.mark.slow

Element = etree._Element

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
ACCOUNT = "123456789012"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/TestIdP"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ReadOnly,{PROVIDER_ARN}"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Admin,{PROVIDER_ARN}"
ATTRIBUTES = {
    "https://aws.amazon.com/SAML/Attributes/Role": [ROLE],
    "https://aws.amazon.com/SAML/Attributes/RoleSessionName": ["mallory"],
}


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamlIdp]:
    yield SamlIdp(tmp_path_factory.mktemp("saml-idp-attacks"))


@pytest.fixture(scope="module")
def trust(idp: SamlIdp) -> SamlProviderTrust:
    assert idp.certificate is not None
    return SamlProviderTrust(PROVIDER_ARN, idp.entity_id, (idp.certificate,))


def q(prefix: str, local: str) -> str:
    return f"{{{NS[prefix]}}}{local}"


def parse(xml: str) -> etree._Element:
    return etree.fromstring(xml.encode())


def text(root: etree._Element) -> str:
    return etree.tostring(root).decode()


def assertion_of(root: etree._Element) -> etree._Element:
    found = root.find(q("saml", "Assertion"))
    assert found is not None
    return found


def make_evil(
    assertion: etree._Element, *, new_id: str | None = "_evil", drop_signature: bool = True
) -> etree._Element:
    """The attacker's assertion: the genuine one with the subject and role changed."""
    evil = copy.deepcopy(assertion)
    if new_id is not None:
        evil.set("ID", new_id)
    if drop_signature:
        for signature in evil.findall(q("ds", "Signature")):
            evil.remove(signature)
    corrupt(evil)
    return evil


def corrupt(assertion: etree._Element) -> None:
    name_id = assertion.find(f"{q('saml', 'Subject')}/{q('saml', 'NameID')}")
    assert name_id is not None
    name_id.text = "attacker-admin"
    for value in assertion.iter(q("saml", "AttributeValue")):
        if value.text == ROLE:
            value.text = ADMIN_ROLE


def refused(xml: str, trust: SamlProviderTrust, error: type[Exception] = InvalidIdentityToken) -> str:
    with pytest.raises(error) as info:
        result = verify_saml_response(b64(xml), trust, time.time())
        # Should an attack ever get through, say what it achieved.
        pytest.fail(f"accepted: subject {result.subject}, roles {result.attributes.roles}")
    return str(info.value)


# --- signature wrapping -------------------------------------------------------------------------------------


def xsw1(root: etree._Element) -> etree._Element:
    """Response signature: a clean copy of the signed Response goes inside the Signature; the outer one is evil."""
    signature = root.find(q("ds", "Signature"))
    assert signature is not None
    clone = copy.deepcopy(root)
    clone.remove(clone.find(q("ds", "Signature")))
    root.set("ID", "_evil_response")
    corrupt(assertion_of(root))
    signature.append(clone)
    return root


def xsw2(root: etree._Element) -> etree._Element:
    """Response signature: the clean copy goes before the Signature, as a detached sibling."""
    signature = root.find(q("ds", "Signature"))
    assert signature is not None
    clone = copy.deepcopy(root)
    clone.remove(clone.find(q("ds", "Signature")))
    root.set("ID", "_evil_response")
    corrupt(assertion_of(root))
    signature.addprevious(clone)
    return root


def xsw3(root: etree._Element) -> etree._Element:
    """Assertion signature: an evil assertion with a new ID before the genuine one."""
    genuine = assertion_of(root)
    genuine.addprevious(make_evil(genuine))
    return root


def xsw4(root: etree._Element) -> etree._Element:
    """Assertion signature: the evil assertion wraps the genuine one."""
    genuine = assertion_of(root)
    evil = make_evil(genuine)
    root.replace(genuine, evil)
    evil.append(genuine)
    return root


def xsw5(root: etree._Element) -> etree._Element:
    """Assertion signature: the signed assertion is altered in place; a clean copy is appended to the Response."""
    genuine = assertion_of(root)
    clean = copy.deepcopy(genuine)
    clean.remove(clean.find(q("ds", "Signature")))
    corrupt(genuine)
    root.append(clean)
    return root


def xsw6(root: etree._Element) -> etree._Element:
    """Assertion signature: altered in place; the clean copy hides inside the assertion's Signature."""
    genuine = assertion_of(root)
    clean = copy.deepcopy(genuine)
    clean.remove(clean.find(q("ds", "Signature")))
    corrupt(genuine)
    signature = genuine.find(q("ds", "Signature"))
    assert signature is not None
    signature.append(clean)
    return root


def xsw7(root: etree._Element) -> etree._Element:
    """Assertion signature: the genuine assertion moves into an Extensions element; an evil one takes its place."""
    genuine = assertion_of(root)
    evil = make_evil(genuine, new_id=None)
    extensions = etree.SubElement(root, q("samlp", "Extensions"))
    root.replace(genuine, evil)
    extensions.append(genuine)
    root.insert(1, extensions)
    return root


def xsw8(root: etree._Element) -> etree._Element:
    """Assertion signature: altered in place; the clean copy inside a ds:Object within the Signature."""
    genuine = assertion_of(root)
    clean = copy.deepcopy(genuine)
    clean.remove(clean.find(q("ds", "Signature")))
    corrupt(genuine)
    signature = genuine.find(q("ds", "Signature"))
    assert signature is not None
    holder = etree.SubElement(signature, q("ds", "Object"))
    holder.append(clean)
    return root


RESPONSE_SIGNED = {"sign_response": True, "sign_assertion": False}
ASSERTION_SIGNED = {"sign_response": False, "sign_assertion": True}


@pytest.mark.parametrize(
    ("attack", "signing"),
    [
        (xsw1, RESPONSE_SIGNED),
        (xsw2, RESPONSE_SIGNED),
        (xsw3, ASSERTION_SIGNED),
        (xsw4, ASSERTION_SIGNED),
        (xsw5, ASSERTION_SIGNED),
        (xsw6, ASSERTION_SIGNED),
        (xsw7, ASSERTION_SIGNED),
        (xsw8, ASSERTION_SIGNED),
    ],
    ids=[f"XSW{i}" for i in range(1, 9)],
)
def test_signature_wrapping_is_refused(
    idp: SamlIdp,
    trust: SamlProviderTrust,
    attack: Callable[[etree._Element], etree._Element],
    signing: dict[str, bool],
) -> None:
    genuine = idp.response("mallory", ATTRIBUTES, **signing)
    assert verify_saml_response(b64(genuine), trust, time.time()).subject == "mallory"
    refused(text(attack(parse(genuine))), trust)


@pytest.mark.parametrize(
    ("attack", "signing"),
    [
        (xsw1, RESPONSE_SIGNED),
        (xsw2, RESPONSE_SIGNED),
        (xsw3, ASSERTION_SIGNED),
        (xsw4, ASSERTION_SIGNED),
        (xsw5, ASSERTION_SIGNED),
        (xsw6, ASSERTION_SIGNED),
        (xsw7, ASSERTION_SIGNED),
        (xsw8, ASSERTION_SIGNED),
    ],
    ids=[f"XSW{i}" for i in range(1, 9)],
)
def test_signed_content_alone_defeats_wrapping_without_the_structure_checks(
    idp: SamlIdp,
    trust: SamlProviderTrust,
    attack: Callable[[etree._Element], etree._Element],
    signing: dict[str, bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the duplicate-ID and one-assertion checks switched off, each wrapped document is still either
    refused or read as the IdP signed it: the attacker's subject and role never come out."""
    monkeypatch.setattr(saml, "check_structure", lambda root: None)
    wrapped = text(attack(parse(idp.response("mallory", ATTRIBUTES, **signing))))
    try:
        result = verify_saml_response(b64(wrapped), trust, time.time())
    except InvalidIdentityToken:
        return
    assert result.subject == "mallory"
    assert [r for r, _ in result.attributes.roles] == [ROLE.split(",")[0]]


@pytest.mark.parametrize("attack", [xsw3, xsw4, xsw5, xsw6, xsw7, xsw8], ids=[f"XSW{i}" for i in range(3, 9)])
def test_signature_wrapping_of_doubly_signed_responses_is_refused(
    idp: SamlIdp, trust: SamlProviderTrust, attack: Callable[[etree._Element], etree._Element]
) -> None:
    genuine = idp.response("mallory", ATTRIBUTES)
    refused(text(attack(parse(genuine))), trust)


def test_a_response_signature_covering_another_element_is_refused(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    """A valid signature of the assertion, moved up to sit in the Response, does not sign the Response."""
    root = parse(idp.response("mallory", ATTRIBUTES, **ASSERTION_SIGNED))
    assertion = assertion_of(root)
    signature = assertion.find(q("ds", "Signature"))
    assert signature is not None
    assertion.remove(signature)
    issuer = root.find(q("saml", "Issuer"))
    assert issuer is not None
    issuer.addnext(signature)
    refused(text(root), trust)


def test_an_unsigned_assertion_swapped_into_a_signed_response_is_refused(
    idp: SamlIdp, trust: SamlProviderTrust
) -> None:
    root = parse(idp.response("mallory", ATTRIBUTES, **RESPONSE_SIGNED))
    genuine = assertion_of(root)
    root.replace(genuine, make_evil(genuine))
    refused(text(root), trust)


def test_an_extra_unsigned_assertion_is_refused(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    root = parse(idp.response("mallory", ATTRIBUTES))
    root.append(make_evil(assertion_of(root)))
    assert "exactly one assertion" in refused(text(root), trust)


def test_an_unsigned_response_is_refused(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    xml = idp.response("mallory", ATTRIBUTES, sign_response=False, sign_assertion=False)
    assert refused(xml, trust) == "Response signature invalid"


@pytest.mark.parametrize("signing", [RESPONSE_SIGNED, ASSERTION_SIGNED], ids=["response", "assertion"])
def test_a_tampered_attribute_is_refused(idp: SamlIdp, trust: SamlProviderTrust, signing: dict[str, bool]) -> None:
    xml = idp.response("mallory", ATTRIBUTES, **signing).replace(ROLE, ADMIN_ROLE)
    assert refused(xml, trust) == "Response signature invalid"


def test_an_attacker_signing_with_its_own_key_and_certificate_is_refused(
    idp: SamlIdp, trust: SamlProviderTrust
) -> None:
    root = parse(idp.response("mallory", ATTRIBUTES, **ASSERTION_SIGNED))
    evil = make_evil(assertion_of(root), new_id="_forged")
    key, cert = self_signed("attacker")
    signed = XMLSigner(c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0).sign(
        evil, key=key, cert=[cert], id_attribute="ID"
    )
    root.replace(assertion_of(root), signed)
    assert refused(text(root), trust) == "Response signature invalid"


# --- comments, entities -------------------------------------------------------------------------------------


@pytest.mark.parametrize("signing", [RESPONSE_SIGNED, ASSERTION_SIGNED, {}], ids=["response", "assertion", "both"])
def test_a_comment_in_the_name_id_cannot_shorten_it(
    idp: SamlIdp, trust: SamlProviderTrust, signing: dict[str, bool]
) -> None:
    """The IdP signed ``alice@example.com.evil.com``; a comment after ``alice@example.com`` keeps the
    signature valid (canonical XML drops comments) but must not make the subject ``alice@example.com``."""
    xml = idp.response("alice@example.com.evil.com", ATTRIBUTES, **signing)
    injected = xml.replace("alice@example.com.evil.com</", "alice@example.com<!---->.evil.com</")
    assert injected != xml
    result = verify_saml_response(b64(injected), trust, time.time())
    assert result.subject == "alice@example.com.evil.com"


def test_a_comment_in_an_attribute_value_cannot_shorten_it(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    attributes = dict(ATTRIBUTES)
    attributes["https://aws.amazon.com/SAML/Attributes/PrincipalTag:Email"] = ["bob@example.com.evil.com"]
    xml = idp.response("bob", attributes).replace(">bob@example.com.evil.com<", ">bob@example.com<!-- -->.evil.com<")
    result = verify_saml_response(b64(xml), trust, time.time())
    assert result.attributes.principal_tags["Email"] == "bob@example.com.evil.com"


def test_external_entities_are_refused(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    xml = idp.response("mallory", ATTRIBUTES).replace('<?xml version="1.0"?>', "").strip()
    root_name = xml[1 : xml.index(" ")]
    doctype = f'<!DOCTYPE {root_name} [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    attack = doctype + xml.replace(">mallory<", ">&xxe;<", 1)
    assert "document type declaration" in refused(attack, trust)


def test_entity_expansion_is_refused(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    laughs = '<!ENTITY l0 "lol">' + "".join(f'<!ENTITY l{i} "&l{i - 1};&l{i - 1};&l{i - 1};">' for i in range(1, 6))
    xml = idp.response("mallory", ATTRIBUTES).replace('<?xml version="1.0"?>', "").strip()
    attack = f"<!DOCTYPE x [{laughs}]>" + xml.replace(">mallory<", ">&l5;<", 1)
    assert "document type declaration" in refused(attack, trust)


def test_a_failed_status_is_idp_rejected_claim(idp: SamlIdp, trust: SamlProviderTrust) -> None:
    xml = idp.response("mallory", ATTRIBUTES, **ASSERTION_SIGNED).replace(
        "urn:oasis:names:tc:SAML:2.0:status:Success", "urn:oasis:names:tc:SAML:2.0:status:Requester"
    )
    assert "authentication failed" in refused(xml, trust, IDPRejectedClaim)


def _signature_of(root: Element) -> Element:
    signature = assertion_of(root).find(q("ds", "Signature"))
    assert signature is not None
    return signature


def _empty_signature(root: Element) -> None:
    signature = _signature_of(root)
    for child in list(signature):
        signature.remove(child)


def _no_reference(root: Element) -> None:
    signed_info = _signature_of(root).find(q("ds", "SignedInfo"))
    assert signed_info is not None
    signed_info.remove(signed_info.find(q("ds", "Reference")))


def _reference(uri: str) -> Callable[[Element], None]:
    def mangle(root: Element) -> None:
        reference = _signature_of(root).find(f"{q('ds', 'SignedInfo')}/{q('ds', 'Reference')}")
        assert reference is not None
        reference.set("URI", uri)

    return mangle


def _xslt_transform(root: Element) -> None:
    transforms = _signature_of(root).find(f"{q('ds', 'SignedInfo')}/{q('ds', 'Reference')}/{q('ds', 'Transforms')}")
    assert transforms is not None
    transform = etree.SubElement(transforms, q("ds", "Transform"))
    transform.set("Algorithm", "http://www.w3.org/TR/1999/REC-xslt-19991116")


def _hmac_method(root: Element) -> None:
    method = _signature_of(root).find(f"{q('ds', 'SignedInfo')}/{q('ds', 'SignatureMethod')}")
    assert method is not None
    method.set("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256")


def _garbage_value(root: Element) -> None:
    value = _signature_of(root).find(q("ds", "SignatureValue"))
    assert value is not None
    value.text = "!!not base64!!"


@pytest.mark.parametrize(
    "mangle",
    [
        _empty_signature,
        _no_reference,
        _reference(""),
        _reference("http://127.0.0.1:9/assertion.xml"),
        _reference("#does-not-exist"),
        _xslt_transform,
        _hmac_method,
        _garbage_value,
    ],
    ids=["empty", "no-reference", "whole-document", "external-uri", "unknown-id", "xslt", "hmac", "garbage"],
)
def test_malformed_signatures_are_refused_not_crashed(
    idp: SamlIdp, trust: SamlProviderTrust, mangle: Callable[[Element], None]
) -> None:
    root = parse(idp.response("mallory", ATTRIBUTES, **ASSERTION_SIGNED))
    mangle(root)
    assert refused(text(root), trust) == "Response signature invalid"
