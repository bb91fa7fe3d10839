"""PSKC (RFC 6030) parsing: plaintext, pre-shared key and PBKDF2 encrypted, malformed files."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from iamd.core.crypto import MasterKeyError, SecretBox, decode_key, new_key_text
from iamd.services import mfa, pskc
from iamd.store import tables as t
from iamd.store.db import Database

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc" '
    'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" '
    'xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" '
    'xmlns:pkcs5="http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#">\n'
)
SECRET = b"12345678901234567890"
AES_CBC = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"


def package(
    serial: str, secret_xml: str, *, period: int = 30, length: int = 6, algorithm: str = "totp", suite: str = ""
) -> str:
    suite_xml = f"<Suite>{suite}</Suite>" if suite else ""
    return f"""<KeyPackage>
  <DeviceInfo><Manufacturer>Example</Manufacturer><SerialNo>{serial}</SerialNo></DeviceInfo>
  <Key Id="{serial}" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:{algorithm}">
    <AlgorithmParameters>{suite_xml}<ResponseFormat Length="{length}" Encoding="DECIMAL"/></AlgorithmParameters>
    <Data>
      <Secret>{secret_xml}</Secret>
      <TimeInterval><PlainValue>{period}</PlainValue></TimeInterval>
    </Data>
  </Key>
</KeyPackage>"""


def plain(secret: bytes = SECRET) -> str:
    return f"<PlainValue>{base64.b64encode(secret).decode()}</PlainValue>"


def encrypt(key: bytes, data: bytes) -> bytes:
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return iv + enc.update(padded) + enc.finalize()


def cipher_xml(blob: bytes) -> str:
    return (
        f'<xenc:EncryptionMethod Algorithm="{AES_CBC}"/>'
        f"<xenc:CipherData><xenc:CipherValue>{base64.b64encode(blob).decode()}</xenc:CipherValue></xenc:CipherData>"
    )


def encrypted_file(
    key: bytes,
    encryption_key_xml: str,
    serials: list[str],
    *,
    tamper: bool = False,
    mac_algorithm: str = "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
) -> bytes:
    mac_key = os.urandom(20)
    digest = hashlib.sha256 if mac_algorithm.endswith("sha256") else hashlib.sha1
    packages = []
    for serial in serials:
        blob = encrypt(key, SECRET)
        mac = hmac.new(mac_key, blob, digest).digest()
        if tamper:
            blob = blob[:-1] + bytes([blob[-1] ^ 1])
        secret_xml = (
            f"<EncryptedValue>{cipher_xml(blob)}</EncryptedValue><ValueMAC>{base64.b64encode(mac).decode()}</ValueMAC>"
        )
        packages.append(package(serial, secret_xml))
    mac_method = (
        f'<MACMethod Algorithm="{mac_algorithm}"><MACKey>{cipher_xml(encrypt(key, mac_key))}</MACKey></MACMethod>'
    )
    return (HEAD + encryption_key_xml + mac_method + "".join(packages) + "</KeyContainer>").encode()


PRE_SHARED = "<EncryptionKey><ds:KeyName>Pre-shared-key</ds:KeyName></EncryptionKey>"


def pbkdf2_xml(salt: bytes, iterations: int) -> str:
    return f"""<EncryptionKey><xenc11:DerivedKey>
  <xenc11:KeyDerivationMethod Algorithm="http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#pbkdf2">
    <pkcs5:PBKDF2-params>
      <Salt><Specified>{base64.b64encode(salt).decode()}</Specified></Salt>
      <IterationCount>{iterations}</IterationCount><KeyLength>16</KeyLength><PRF/>
    </pkcs5:PBKDF2-params>
  </xenc11:KeyDerivationMethod>
  <xenc11:MasterKeyName>My Password 1</xenc11:MasterKeyName>
</xenc11:DerivedKey></EncryptionKey>"""


def test_plaintext_file() -> None:
    data = (
        HEAD
        + package("GAKT00000001", plain(), period=60)
        + package("GAKT00000002", plain(), suite="HMAC-SHA256")
        + "</KeyContainer>"
    ).encode()
    tokens = pskc.parse(data)
    assert [(x.serial, x.period, x.algorithm, x.digits) for x in tokens] == [
        ("GAKT00000001", 60, "SHA1", 6),
        ("GAKT00000002", 30, "SHA256", 6),
    ]
    assert tokens[0].secret == SECRET and tokens[0].manufacturer == "Example"


def test_pre_shared_key_file() -> None:
    key = bytes.fromhex("12345678901234567890123456789012")
    data = encrypted_file(key, PRE_SHARED, ["GAKT00000001"])
    assert pskc.parse(data, key=key)[0].secret == SECRET
    sha256 = encrypted_file(
        key, PRE_SHARED, ["GAKT00000003"], mac_algorithm="http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
    )
    assert pskc.parse(sha256, key=key)[0].secret == SECRET
    with pytest.raises(pskc.PskcError, match="pre-shared key"):
        pskc.parse(data)
    with pytest.raises(pskc.PskcError, match=r"wrong key|MAC"):
        pskc.parse(data, key=bytes(16))


def test_pbkdf2_file() -> None:
    salt = b"\x12\x3e\xff\x3c\x4a\x72\x12\x9c"
    key = hashlib.pbkdf2_hmac("sha1", b"qwerty", salt, 1000, 16)
    data = encrypted_file(key, pbkdf2_xml(salt, 1000), ["GAKT00000001", "GAKT00000002"])
    tokens = pskc.parse(data, password="qwerty")
    assert [x.secret for x in tokens] == [SECRET, SECRET]
    with pytest.raises(pskc.PskcError, match="password"):
        pskc.parse(data)
    with pytest.raises(pskc.PskcError):
        pskc.parse(data, password="wrong")


def test_tampered_ciphertext_fails_the_mac() -> None:
    key = os.urandom(16)
    with pytest.raises(pskc.PskcError, match="MAC"):
        pskc.parse(encrypted_file(key, PRE_SHARED, ["GAKT00000001"], tamper=True), key=key)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not xml at all", "not well-formed"),
        (b"<KeyContainer/>", "not a PSKC file"),
        ((HEAD + "</KeyContainer>").encode(), "no KeyPackage"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><KeyContainer/>', "DTD"),
        ((HEAD + package("GAKT00000001", plain(), algorithm="hotp") + "</KeyContainer>").encode(), "only TOTP"),
        ((HEAD + package("GAKT00000001", plain(), length=8) + "</KeyContainer>").encode(), "6-digit"),
        ((HEAD + package("GAKT00000001", "<PlainValue>@@@</PlainValue>") + "</KeyContainer>").encode(), "base64"),
        ((HEAD + package("GAKT00000001", plain(b"short")) + "</KeyContainer>").encode(), "128 bits"),
        ((HEAD + package("GAKT00000001", plain(), period=0) + "</KeyContainer>").encode(), "TimeInterval"),
        ((HEAD + package("x", plain()) + "</KeyContainer>").encode(), "serial number"),
        ((HEAD + package("GAKT00000001", plain()) * 2 + "</KeyContainer>").encode(), "twice"),
        ((HEAD + package("GAKT00000001", plain(), suite="MD5") + "</KeyContainer>").encode(), "unsupported"),
    ],
)
def test_malformed_files_are_rejected(data: bytes, message: str) -> None:
    with pytest.raises(pskc.PskcError, match=message):
        pskc.parse(data)


def test_import_is_all_or_nothing(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'iamd.db'}")
    db.migrate()
    box = SecretBox(decode_key(new_key_text()))
    tokens = pskc.parse((HEAD + package("GAKT00000001", plain()) + "</KeyContainer>").encode())
    with db.write() as conn:
        assert pskc.import_tokens(conn, box, 1.0, tokens, "aws-us-gov") == ["GAKT00000001"]
    both = pskc.parse(
        (HEAD + package("GAKT00000002", plain()) + package("GAKT00000001", plain()) + "</KeyContainer>").encode()
    )
    with pytest.raises(pskc.PskcError, match="GAKT00000001"), db.write() as conn:
        pskc.import_tokens(conn, box, 1.0, both)
    with db.read() as conn:
        rows = conn.execute(sa.select(t.mfa_devices)).all()
    assert [(r.serial, r.kind, r.partition_restriction, r.account_id) for r in rows] == [
        ("GAKT00000001", "hardware", "aws-us-gov", None)
    ]
    assert SECRET not in rows[0].seed_enc
    assert mfa.open_seed(box, "GAKT00000001", rows[0].seed_enc) == SECRET
    with pytest.raises(MasterKeyError):  # AAD binds the seed to its serial
        mfa.open_seed(box, "GAKT00000002", rows[0].seed_enc)
    db.dispose()
