from __future__ import annotations

import re

import pytest

from iamd.core import ids
from iamd.core.arn import Arn, iam_arn, split_iam_resource
from iamd.core.clock import FixedClock
from iamd.core.crypto import MasterKeyError, SecretBox, constant_time_equals, decode_key, new_key_text


def test_ids_have_aws_shapes() -> None:
    for prefix in (ids.USER_PREFIX, ids.GROUP_PREFIX, ids.ROLE_PREFIX, ids.POLICY_PREFIX, ids.INSTANCE_PROFILE_PREFIX):
        value = ids.unique_id(prefix)
        assert re.fullmatch(prefix + r"[A-Z2-7]{17}", value)
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", ids.access_key_id())
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", ids.access_key_id(ids.TEMPORARY_KEY_PREFIX))
    secret = ids.secret_access_key()
    assert len(secret) == 40
    assert re.fullmatch(r"[1-9]\d{11}", ids.account_id())
    assert len({ids.secret_access_key() for _ in range(100)}) == 100


def test_arn_round_trip() -> None:
    text = iam_arn("aws-cn", "123456789012", "user", "/a/b/", "bob")
    assert text == "arn:aws-cn:iam::123456789012:user/a/b/bob"
    arn = Arn.parse(text)
    assert str(arn) == text and arn.resource_type == "user"
    assert split_iam_resource(arn.resource) == ("user", "/a/b/", "bob")
    assert split_iam_resource("role/r") == ("role", "/", "r")
    with pytest.raises(ValueError):
        Arn.parse("not:an:arn")


def test_secret_box_round_trip_and_tamper() -> None:
    box = SecretBox(decode_key(new_key_text()))
    blob = box.encrypt_text("very secret", aad="AKIA1")
    assert b"very secret" not in blob
    assert box.decrypt_text(blob, aad="AKIA1") == "very secret"
    with pytest.raises(MasterKeyError):
        box.decrypt_text(blob, aad="AKIA2")  # bound to its row
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(MasterKeyError):
        box.decrypt(bytes(tampered), b"AKIA1")
    with pytest.raises(MasterKeyError):
        SecretBox(decode_key(new_key_text())).decrypt(blob, b"AKIA1")


def test_secret_box_key_rotation() -> None:
    old = decode_key(new_key_text())
    new = decode_key(new_key_text())
    blob = SecretBox(old).encrypt(b"x")
    rotated = SecretBox(new, retired=(old,))
    assert rotated.decrypt(blob) == b"x"
    assert SecretBox(new).decrypt(rotated.encrypt(b"y")) == b"y"


def test_bad_master_keys() -> None:
    with pytest.raises(MasterKeyError):
        decode_key("not base64!!")
    with pytest.raises(MasterKeyError):
        decode_key("c2hvcnQ=")


def test_constant_time_equals() -> None:
    assert constant_time_equals("abc", "abc")
    assert not constant_time_equals("abc", "abd")
    assert not constant_time_equals(b"abc", b"ab")


def test_fixed_clock() -> None:
    clock = FixedClock(100.0)
    clock.advance(5)
    assert clock.time() == 105.0
    assert clock.now().timestamp() == 105.0
