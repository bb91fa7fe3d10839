"""Hardware TOTP token seeds from vendors' PSKC files (RFC 6030), and their import.

Supported: plaintext secrets (``PlainValue``), secrets encrypted with a pre-shared key or a
PBKDF2-derived key (``EncryptedValue``, AES-128/192/256-CBC with the IV in front of the
ciphertext) authenticated with ``ValueMAC`` (HMAC-SHA1 / HMAC-SHA256 under the MAC key carried
encrypted in ``MACMethod/MACKey``).  Only TOTP keys with 6-digit decimal codes are accepted
(AWS's API carries 6-digit codes); the time step (``TimeInterval``) and the algorithm
(``Suite``) are honoured.

The whole file is parsed and checked before anything is written: a malformed file raises
:class:`PskcError` with a message naming the problem, and nothing is imported.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy.engine import Connection

from iamd.core import ids, totp
from iamd.core.arn import PARTITIONS
from iamd.core.crypto import SecretBox
from iamd.services import mfa
from iamd.store import tables as t

NS = {
    "pskc": "urn:ietf:params:xml:ns:keyprov:pskc",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xenc": "http://www.w3.org/2001/04/xmlenc#",
    "xenc11": "http://www.w3.org/2009/xmlenc11#",
    "pkcs5": "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#",
}
TOTP_ALGORITHMS = ("urn:ietf:params:xml:ns:keyprov:pskc:totp", "urn:ietf:params:xml:ns:keyprov:pskc#totp")
CBC_ALGORITHMS = {
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc": 16,
    "http://www.w3.org/2001/04/xmlenc#aes192-cbc": 24,
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc": 32,
}
MAC_ALGORITHMS = {
    "http://www.w3.org/2000/09/xmldsig#hmac-sha1": hashlib.sha1,
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256": hashlib.sha256,
}
PBKDF2 = "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#pbkdf2"
PRFS = {
    "http://www.w3.org/2000/09/xmldsig#hmac-sha1": "sha1",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256": "sha256",
}
MAX_FILE_BYTES = 16 * 1024 * 1024


class PskcError(ValueError):
    """The PSKC file cannot be imported; the message says why."""


@dataclass(frozen=True, slots=True)
class PskcToken:
    serial: str
    secret: bytes
    algorithm: str = totp.DEFAULT_ALGORITHM
    digits: int = totp.DEFAULT_DIGITS
    period: int = totp.DEFAULT_PERIOD
    manufacturer: str | None = None


def _q(path: str) -> str:
    """``pskc:Key/pskc:Data`` -> ElementTree's ``{uri}Key/{uri}Data``."""
    out = []
    for part in path.split("/"):
        prefix, _, local = part.partition(":")
        out.append(f"{{{NS[prefix]}}}{local}" if local else part)
    return "/".join(out)


def _find(node: ET.Element, path: str) -> ET.Element | None:
    return node.find(_q(path))


def _text(node: ET.Element, path: str) -> str | None:
    found = _find(node, path)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def _child(node: ET.Element, local: str) -> ET.Element | None:
    """A child by local name in any namespace (PBKDF2 parameters appear both qualified and not)."""
    for child in node:
        if child.tag == local or child.tag.endswith("}" + local):
            return child
    return None


def _child_text(node: ET.Element | None, *path: str) -> str | None:
    for local in path:
        if node is None:
            return None
        node = _child(node, local)
    return node.text.strip() if node is not None and node.text is not None else None


def _b64(text: str | None, what: str) -> bytes:
    if not text:
        raise PskcError(f"{what} is empty")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PskcError(f"{what} is not valid base64") from exc


class _Keys:
    """The file's encryption key (pre-shared or derived) and MAC key."""

    def __init__(self, root: ET.Element, password: str | None, key: bytes | None) -> None:
        self.encryption_key: bytes | None = None
        self.mac_key: bytes | None = None
        self.mac_hash = hashlib.sha1
        enc = _find(root, "pskc:EncryptionKey")
        if enc is None:
            return
        derived = _find(enc, "xenc11:DerivedKey")
        if derived is not None:
            if password is None:
                raise PskcError("the file's keys are encrypted with a password-derived key: give the password")
            self.encryption_key = self._derive(derived, password)
        else:
            if key is None:
                raise PskcError("the file's keys are encrypted with a pre-shared key: give the key (hex)")
            self.encryption_key = key
        method = _find(root, "pskc:MACMethod")
        if method is not None:
            algorithm = method.get("Algorithm", "")
            if algorithm not in MAC_ALGORITHMS:
                raise PskcError(f"unsupported MAC algorithm {algorithm!r}")
            self.mac_hash = MAC_ALGORITHMS[algorithm]
            mac_key = _find(method, "pskc:MACKey")
            if mac_key is None:
                raise PskcError("MACMethod has no MACKey")
            self.mac_key = self.decrypt(mac_key, "MACKey")

    @staticmethod
    def _derive(derived: ET.Element, password: str) -> bytes:
        method = _find(derived, "xenc11:KeyDerivationMethod")
        if method is None or method.get("Algorithm") != PBKDF2:
            raise PskcError("unsupported key derivation: only PBKDF2 is supported")
        params = _find(method, "pkcs5:PBKDF2-params")
        if params is None:
            raise PskcError("PBKDF2 parameters are missing")
        salt = _b64(_child_text(params, "Salt", "Specified"), "PBKDF2 salt")
        try:
            iterations = int(_child_text(params, "IterationCount") or "")
            length = int(_child_text(params, "KeyLength") or "")
        except ValueError as exc:
            raise PskcError("PBKDF2 IterationCount and KeyLength must be integers") from exc
        if not 1 <= iterations <= 10_000_000 or length not in (16, 24, 32):
            raise PskcError("PBKDF2 IterationCount or KeyLength is out of range")
        prf_node = _child(params, "PRF")
        prf = "sha1"
        if prf_node is not None and prf_node.get("Algorithm"):
            algorithm = prf_node.get("Algorithm", "")
            if algorithm not in PRFS:
                raise PskcError(f"unsupported PBKDF2 PRF {algorithm!r}")
            prf = PRFS[algorithm]
        return hashlib.pbkdf2_hmac(prf, password.encode(), salt, iterations, length)

    def decrypt(self, node: ET.Element, what: str) -> bytes:
        """``node`` holds xenc:EncryptionMethod and xenc:CipherData/xenc:CipherValue (IV | ciphertext)."""
        if self.encryption_key is None:
            raise PskcError(f"{what} is encrypted but the file declares no EncryptionKey")
        method = _find(node, "xenc:EncryptionMethod")
        algorithm = method.get("Algorithm", "") if method is not None else ""
        if algorithm not in CBC_ALGORITHMS:
            raise PskcError(f"{what}: unsupported encryption algorithm {algorithm!r}")
        if len(self.encryption_key) != CBC_ALGORITHMS[algorithm]:
            raise PskcError(f"{what}: the key must be {CBC_ALGORITHMS[algorithm]} bytes for {algorithm}")
        blob = _b64(_text(node, "xenc:CipherData/xenc:CipherValue"), f"{what} CipherValue")
        if len(blob) < 32 or len(blob) % 16:
            raise PskcError(f"{what}: the ciphertext is malformed")
        decryptor = Cipher(algorithms.AES(self.encryption_key), modes.CBC(blob[:16])).decryptor()
        padded = decryptor.update(blob[16:]) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError as exc:
            raise PskcError(f"{what}: cannot decrypt (wrong key or password?)") from exc

    def check_mac(self, encrypted: ET.Element, value_mac: str | None, what: str) -> None:
        if self.mac_key is None:
            if value_mac:
                raise PskcError(f"{what} has a ValueMAC but the file declares no MACMethod")
            return
        if not value_mac:
            raise PskcError(f"{what} has no ValueMAC")
        blob = _b64(_text(encrypted, "xenc:CipherData/xenc:CipherValue"), f"{what} CipherValue")
        expected = hmac.new(self.mac_key, blob, self.mac_hash).digest()
        if not hmac.compare_digest(expected, _b64(value_mac, f"{what} ValueMAC")):
            raise PskcError(f"{what}: the MAC does not match (wrong key or password, or an altered file)")


def parse(data: bytes, *, password: str | None = None, key: bytes | None = None) -> list[PskcToken]:
    """Every TOTP token of a PSKC file; PskcError for anything unsupported or malformed."""
    if len(data) > MAX_FILE_BYTES:
        raise PskcError("the file is too large for a PSKC seed file")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise PskcError("the file contains a DTD or entity declarations, which are not allowed")
    try:
        root = ET.fromstring(data)  # noqa: S314 - no DTD (checked above); expat resolves no external entities
    except ET.ParseError as exc:
        raise PskcError(f"not well-formed XML: {exc}") from exc
    if root.tag != _q("pskc:KeyContainer"):
        raise PskcError("not a PSKC file: the root element must be KeyContainer in the RFC 6030 namespace")
    if root.get("Version") not in ("1.0", None):
        raise PskcError(f"unsupported PSKC version {root.get('Version')!r}")
    keys = _Keys(root, password, key)
    tokens: list[PskcToken] = []
    seen: set[str] = set()
    packages = root.findall(_q("pskc:KeyPackage"))
    if not packages:
        raise PskcError("the file holds no KeyPackage")
    for index, package in enumerate(packages, 1):
        token = _token(package, keys, index)
        if token.serial in seen:
            raise PskcError(f"serial number {token.serial} appears twice in the file")
        seen.add(token.serial)
        tokens.append(token)
    return tokens


def _token(package: ET.Element, keys: _Keys, index: int) -> PskcToken:
    where = f"KeyPackage {index}"
    key = _find(package, "pskc:Key")
    if key is None:
        raise PskcError(f"{where} has no Key")
    serial = _text(package, "pskc:DeviceInfo/pskc:SerialNo") or key.get("Id") or ""
    if not serial:
        raise PskcError(f"{where} has neither DeviceInfo/SerialNo nor a Key Id")
    where = f"token {serial}"
    if not 9 <= len(serial) <= 256 or not all(ch.isalnum() or ch in "+=,.@-_/:" for ch in serial):
        raise PskcError(f"{where}: a serial number must be 9 to 256 characters of letters, digits and +=,.@-_/:")
    algorithm = key.get("Algorithm", "")
    if algorithm not in TOTP_ALGORITHMS:
        raise PskcError(f"{where}: only TOTP keys are supported (Algorithm is {algorithm!r})")
    params = _find(key, "pskc:AlgorithmParameters")
    digits = totp.DEFAULT_DIGITS
    suite = totp.DEFAULT_ALGORITHM
    if params is not None:
        fmt = _find(params, "pskc:ResponseFormat")
        if fmt is not None:
            if fmt.get("Encoding", "DECIMAL").upper() != "DECIMAL":
                raise PskcError(f"{where}: only decimal codes are supported")
            try:
                digits = int(fmt.get("Length", "6"))
            except ValueError as exc:
                raise PskcError(f"{where}: ResponseFormat Length is not a number") from exc
        suite_text = _text(params, "pskc:Suite")
        if suite_text:
            try:
                suite = totp.normalize_algorithm(suite_text)
            except ValueError as exc:
                raise PskcError(f"{where}: {exc}") from exc
    if digits != 6:
        raise PskcError(f"{where}: {digits}-digit codes cannot be used: AWS's API carries 6-digit codes")
    data = _find(key, "pskc:Data")
    if data is None:
        raise PskcError(f"{where} has no Data")
    secret = _secret(data, keys, where)
    period = totp.DEFAULT_PERIOD
    interval = _text(data, "pskc:TimeInterval/pskc:PlainValue")
    if interval is not None:
        try:
            period = int(interval)
        except ValueError as exc:
            raise PskcError(f"{where}: TimeInterval is not a number") from exc
        if not 1 <= period <= 3600:
            raise PskcError(f"{where}: TimeInterval must be between 1 and 3600 seconds")
    origin = _text(data, "pskc:Time/pskc:PlainValue")
    if origin not in (None, "0"):
        raise PskcError(f"{where}: a Time origin other than 0 is not supported")
    return PskcToken(
        serial=serial,
        secret=secret,
        algorithm=suite,
        digits=digits,
        period=period,
        manufacturer=_text(package, "pskc:DeviceInfo/pskc:Manufacturer"),
    )


def _secret(data: ET.Element, keys: _Keys, where: str) -> bytes:
    node = _find(data, "pskc:Secret")
    if node is None:
        raise PskcError(f"{where} has no Secret")
    plain = _find(node, "pskc:PlainValue")
    encrypted = _find(node, "pskc:EncryptedValue")
    if plain is not None:
        secret = _b64(plain.text, f"{where} Secret")
    elif encrypted is not None:
        keys.check_mac(encrypted, _text(node, "pskc:ValueMAC"), f"{where} Secret")
        secret = keys.decrypt(encrypted, f"{where} Secret")
    else:
        raise PskcError(f"{where}: Secret has neither PlainValue nor EncryptedValue")
    if len(secret) < 10:
        raise PskcError(f"{where}: the secret is shorter than RFC 4226's 128 bits")
    return secret


def import_tokens(
    conn: Connection,
    box: SecretBox,
    now: float,
    tokens: Sequence[PskcToken],
    partition_restriction: str | None = None,
) -> list[str]:
    """Add the tokens as unassigned hardware devices (one transaction: the caller's)."""
    if partition_restriction is not None and partition_restriction not in PARTITIONS:
        raise PskcError(f"unknown partition {partition_restriction!r}: use one of {', '.join(PARTITIONS)}")
    d = t.mfa_devices
    serials = [tok.serial for tok in tokens]
    if not serials:
        return []
    taken = sorted(r.serial for r in conn.execute(sa.select(d.c.serial).where(d.c.serial.in_(serials))))
    if taken:
        raise PskcError(f"already imported (nothing was imported): {', '.join(taken)}")
    for tok in tokens:
        conn.execute(
            d.insert().values(
                id=ids.unique_id("AHWT"),
                account_id=None,
                user_id=None,
                is_root=False,
                name=tok.serial,
                name_key=tok.serial.lower(),
                path="/",
                serial=tok.serial,
                kind="hardware",
                seed_enc=mfa.seal_seed(box, tok.serial, tok.secret),
                algorithm=tok.algorithm,
                digits=tok.digits,
                period=tok.period,
                drift=0,
                partition_restriction=partition_restriction,
                enabled_at=None,
                created_at=now,
            )
        )
        mfa.record_event(
            conn,
            tok.serial,
            "imported",
            now,
            mfa.Actor(),
            f"manufacturer {tok.manufacturer or '?'}; partition {partition_restriction or 'any'}",
        )
    return serials
