"""Encrypted SAML assertions (XML Encryption 1.0/1.1), decrypted with a SAML provider's private keys.

Only what AWS accepts and nothing weaker: the assertion's content key is wrapped with RSA-OAEP
(``xmlenc#rsa-oaep-mgf1p``, or ``xmlenc11#rsa-oaep`` with its digest and MGF); RSA PKCS#1 v1.5 key
transport (Bleichenbacher's oracle) is refused.  The content is AES-CBC or AES-GCM (128/192/256);
3DES is refused.  Every failure is the same ``InvalidIdentityToken`` message, so that the answers are
no padding or key oracle.

Decryption gives no trust: the caller still requires the response's signature (which covers the
ciphertext) or the decrypted assertion's own signature.  Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from iamd.auth.saml_xml import Element, parse_xml, tag, text_of
from iamd.core.errors import InvalidIdentityToken

XENC = "http://www.w3.org/2001/04/xmlenc#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"
DSIG = "http://www.w3.org/2000/09/xmldsig#"
DSIG_MORE = "http://www.w3.org/2001/04/xmldsig-more#"

CANNOT_DECRYPT = "The encrypted SAML assertion cannot be decrypted with this provider's private keys"

_CONTENT: dict[str, tuple[str, int]] = {
    XENC + "aes128-cbc": ("cbc", 16),
    XENC + "aes192-cbc": ("cbc", 24),
    XENC + "aes256-cbc": ("cbc", 32),
    XENC11 + "aes128-gcm": ("gcm", 16),
    XENC11 + "aes192-gcm": ("gcm", 24),
    XENC11 + "aes256-gcm": ("gcm", 32),
}
_KEY_TRANSPORT = frozenset({XENC + "rsa-oaep-mgf1p", XENC11 + "rsa-oaep"})
_DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    DSIG + "sha1": hashes.SHA1,
    XENC + "sha256": hashes.SHA256,
    DSIG_MORE + "sha384": hashes.SHA384,
    XENC + "sha512": hashes.SHA512,
}
_MGFS: dict[str, type[hashes.HashAlgorithm]] = {
    XENC11 + "mgf1sha1": hashes.SHA1,
    XENC11 + "mgf1sha224": hashes.SHA224,
    XENC11 + "mgf1sha256": hashes.SHA256,
    XENC11 + "mgf1sha384": hashes.SHA384,
    XENC11 + "mgf1sha512": hashes.SHA512,
}


def _x(local: str, ns: str = XENC) -> str:
    return f"{{{ns}}}{local}"


def _fail() -> InvalidIdentityToken:
    return InvalidIdentityToken(CANNOT_DECRYPT)


def _cipher_value(element: Element) -> bytes:
    value = element.find(f"{_x('CipherData')}/{_x('CipherValue')}")
    if value is None:
        raise _fail()
    try:
        return base64.b64decode("".join(text_of(value).split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail() from exc


def _oaep(method: Element) -> padding.OAEP:
    """The OAEP parameters of an EncryptedKey's EncryptionMethod (SHA-1 and MGF1-SHA-1 by default)."""
    digest_el = method.find(f"{{{DSIG}}}DigestMethod")
    digest = _DIGESTS.get(digest_el.get("Algorithm", "") if digest_el is not None else DSIG + "sha1")
    mgf_hash: type[hashes.HashAlgorithm] | None = hashes.SHA1
    if method.get("Algorithm") == XENC11 + "rsa-oaep":
        mgf_el = method.find(_x("MGF", XENC11))
        if mgf_el is not None:
            mgf_hash = _MGFS.get(mgf_el.get("Algorithm", ""))
    if digest is None or mgf_hash is None:
        raise _fail()
    label = None
    params = method.find(_x("OAEPparams"))
    if params is not None and text_of(params).strip():
        try:
            label = base64.b64decode(text_of(params).strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _fail() from exc
    return padding.OAEP(mgf=padding.MGF1(mgf_hash()), algorithm=digest(), label=label)


def _content_key(encrypted_keys: Sequence[Element], keys: Sequence[rsa.RSAPrivateKey], size: int) -> bytes:
    for encrypted_key in encrypted_keys:
        method = encrypted_key.find(_x("EncryptionMethod"))
        if method is None or method.get("Algorithm") not in _KEY_TRANSPORT:
            continue  # RSA 1.5 and anything unknown never unwraps a key
        oaep = _oaep(method)
        wrapped = _cipher_value(encrypted_key)
        for key in keys:
            try:
                session = key.decrypt(wrapped, oaep)
            except ValueError:
                continue
            if len(session) == size:
                return session
    raise _fail()


def _decrypt_content(mode: str, key: bytes, data: bytes) -> bytes:
    try:
        if mode == "gcm":
            if len(data) < 12 + 16:
                raise _fail()
            return AESGCM(key).decrypt(data[:12], data[12:], None)
        if len(data) < 32 or len(data) % 16:
            raise _fail()
        decryptor = Cipher(algorithms.AES(key), modes.CBC(data[:16])).decryptor()
        plain = decryptor.update(data[16:]) + decryptor.finalize()
    except InvalidIdentityToken:
        raise
    except Exception as exc:  # InvalidTag and friends: one answer for every failure
        raise _fail() from exc
    pad = plain[-1]
    if not 1 <= pad <= 16:  # XML Encryption padding: the last byte counts the padding, the others are arbitrary
        raise _fail()
    return plain[:-pad]


def decrypt_assertion(
    encrypted_assertion: Element,
    keys: Sequence[rsa.RSAPrivateKey],
    posted_namespaces: Mapping[str | None, str] | None = None,
) -> Element:
    """The ``saml:Assertion`` inside an ``EncryptedAssertion``; InvalidIdentityToken if it cannot be had.

    ``encrypted_assertion`` comes from the verified response (or the posted document when only the assertion is
    signed).  The plaintext was serialized in the context of its place in the IdP's document; exclusive
    canonicalization drops the declarations it needs from the verified copy, so prefixes it leaves undeclared
    are resolved with ``posted_namespaces``, the declarations in scope at that place in the posted document.
    That context is not signed (nor is it by the IdP's signature): it can only rename elements out of the SAML
    namespace, hiding them - never add content, which comes from the ciphertext alone.
    """
    data = encrypted_assertion.find(_x("EncryptedData"))
    if data is None or not keys:
        raise _fail()
    method = data.find(_x("EncryptionMethod"))
    content = _CONTENT.get(method.get("Algorithm", "") if method is not None else "")
    if content is None:
        raise _fail()
    mode, size = content
    encrypted_keys = data.findall(f"{{{DSIG}}}KeyInfo/{_x('EncryptedKey')}")
    encrypted_keys += encrypted_assertion.findall(_x("EncryptedKey"))
    plain = _decrypt_content(mode, _content_key(encrypted_keys, keys, size), _cipher_value(data))
    # The plaintext is an element serialized in the context of its parent: parse it with the namespaces in
    # scope at the EncryptedAssertion declared on a wrapper (no DTD, no entities, as every SAML document).
    namespaces = {k: v for k, v in (posted_namespaces or {}).items() if k}
    namespaces.update({k: v for k, v in encrypted_assertion.nsmap.items() if k})
    wrapper = etree.Element("wrapper", nsmap=namespaces)
    head = etree.tostring(wrapper).decode().removesuffix("/>")
    root = parse_xml(head.encode() + b">" + plain + b"</wrapper>", what="decrypted SAML assertion")
    children = [child for child in root if isinstance(child.tag, str)]
    if len(children) != 1 or children[0].tag != tag("saml", "Assertion") or (root.text or "").strip():
        raise _fail()
    # Standalone (its in-scope namespaces declared on it), as the signature check serializes it.
    return parse_xml(etree.tostring(children[0], with_tail=False), what="decrypted SAML assertion")
