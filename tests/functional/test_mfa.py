"""MFA over the API against a real server: virtual devices, hardware tokens, STS with MFA, policies."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from iamd.core import totp
from tests.support.server import Server
from tests.support.totp_steps import code, fresh_step

INVALID = "MultiFactorAuthentication failed with invalid MFA one time pass code. "
UNABLE = (
    "MultiFactorAuthentication failed, unable to validate MFA code. "
    "Please verify your MFA serial number is valid and associated with this user."
)


INVALID_PATH = (
    "The specified value for path is invalid. "
    "It must begin and end with / and contain only alphanumeric characters and/or / characters."
)


def err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    r = exc.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def create_device(iam: Any, name: str, **kwargs: Any) -> tuple[str, bytes]:
    out = iam.create_virtual_mfa_device(VirtualMFADeviceName=name, **kwargs)["VirtualMFADevice"]
    return out["SerialNumber"], totp.from_base32(out["Base32StringSeed"].decode())


def enable(iam: Any, user: str, serial: str, seed: bytes) -> int:
    """Enable with code(t-1), code(t); returns t (code(t+1) is then the next usable code)."""
    step = fresh_step()
    iam.enable_mfa_device(
        UserName=user,
        SerialNumber=serial,
        AuthenticationCode1=code(seed, step - 1),
        AuthenticationCode2=code(seed, step),
    )
    return step


def user_with_key(iamd: Server, name: str, *docs: str) -> tuple[dict[str, str], Any, Any]:
    iam = iamd.client("iam")
    iam.create_user(UserName=name)
    for i, doc in enumerate(docs):
        iam.put_user_policy(UserName=name, PolicyName=f"p{i}", PolicyDocument=doc)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return (
        key,
        iamd.client("iam", key["AccessKeyId"], key["SecretAccessKey"]),
        iamd.client("sts", key["AccessKeyId"], key["SecretAccessKey"]),
    )


def session_clients(iamd: Server, creds: dict[str, Any]) -> tuple[Any, Any]:
    args = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    return iamd.client("iam", *args), iamd.client("sts", *args)


# --- devices -------------------------------------------------------------------------------------------


def test_create_virtual_device_shapes_and_qr_code(iamd: Server, iam: Any) -> None:
    import zxingcpp
    from PIL import Image

    out = iam.create_virtual_mfa_device(
        VirtualMFADeviceName="alice-phone", Path="/team/", Tags=[{"Key": "k", "Value": "v"}]
    )["VirtualMFADevice"]
    assert out["SerialNumber"] == f"arn:aws:iam::{iamd.account_id}:mfa/team/alice-phone"
    seed_b32 = out["Base32StringSeed"].decode()
    assert len(seed_b32) == 64 and len(totp.from_base32(seed_b32)) == 40
    png = out["QRCodePNG"]
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))
    assert [b.text for b in found] == [
        f"otpauth://totp/iamd:alice-phone@{iamd.account_id}?secret={seed_b32}&issuer=iamd"
    ]
    assert out["Tags"] == [{"Key": "k", "Value": "v"}]
    with pytest.raises(ClientError) as exc:
        iam.create_virtual_mfa_device(VirtualMFADeviceName="ALICE-phone", Path="/team/")
    assert err(exc)[:2] == ("EntityAlreadyExists", "MFADevice entity at the same path and name already exists.")
    listed = iam.list_virtual_mfa_devices()["VirtualMFADevices"]
    assert listed == [{"SerialNumber": out["SerialNumber"], "Tags": [{"Key": "k", "Value": "v"}]}]
    assert "Base32StringSeed" not in listed[0] and "QRCodePNG" not in listed[0]


def test_device_names_are_unique_per_path_and_name(iamd: Server, iam: Any) -> None:
    """CreateVirtualMFADevice: the name "must be unique. Use with path to uniquely identify" a device."""
    home, _ = create_device(iam, "phone")
    team, _ = create_device(iam, "Phone", Path="/team/")
    deep, _ = create_device(iam, "phone", Path="/team/ops/")
    assert (home, team, deep) == tuple(
        f"arn:aws:iam::{iamd.account_id}:mfa/{where}" for where in ("phone", "team/Phone", "team/ops/phone")
    )
    for path in ("/", "/team/", "/team/ops/"):
        with pytest.raises(ClientError) as exc:
            iam.create_virtual_mfa_device(VirtualMFADeviceName="PHONE", Path=path)
        assert err(exc) == ("EntityAlreadyExists", "MFADevice entity at the same path and name already exists.", 409)
    serials = [d["SerialNumber"] for d in iam.list_virtual_mfa_devices()["VirtualMFADevices"]]
    assert sorted(serials) == sorted([home, team, deep])
    iam.delete_virtual_mfa_device(SerialNumber=team)
    create_device(iam, "phone", Path="/team/")  # the place is free again
    # names up to 226 characters (longer than other IAM names) are kept whole, on every backend
    long_name = "n" * 226
    serial, _ = create_device(iam, long_name)
    assert serial.endswith("/" + long_name)
    with pytest.raises(ClientError) as exc:
        iam.create_virtual_mfa_device(VirtualMFADeviceName="n" * 227)
    assert err(exc)[0] == "ValidationError"
    # a serial number longer than 256 characters could never be named again: refused
    with pytest.raises(ClientError) as exc:
        iam.create_virtual_mfa_device(VirtualMFADeviceName=long_name, Path="/deep/")
    assert err(exc)[0] == "ValidationError" and "serialNumber" in err(exc)[1]


def test_bad_device_paths(iamd: Server, iam: Any) -> None:
    for path in ("/a//b/", "/a/b//", "///"):
        with pytest.raises(ClientError) as exc:
            iam.create_virtual_mfa_device(VirtualMFADeviceName="x", Path=path)
        assert err(exc) == ("ValidationError", INVALID_PATH, 400)
    for path in ("test", "//", "/no-end"):  # outside the model's pattern: refused before the handler
        with pytest.raises(ClientError) as exc:
            iam.create_virtual_mfa_device(VirtualMFADeviceName="x", Path=path)
        assert err(exc)[0] == "ValidationError"
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []


def test_enable_list_get_deactivate_delete(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="alice")
    serial, seed = create_device(iam, "alice-phone")
    step = fresh_step()
    with pytest.raises(ClientError) as exc:  # not consecutive
        iam.enable_mfa_device(
            UserName="alice",
            SerialNumber=serial,
            AuthenticationCode1=code(seed, step - 2),
            AuthenticationCode2=code(seed, step),
        )
    assert err(exc) == ("InvalidAuthenticationCode", "Authentication code for device is not valid.", 403)
    with pytest.raises(ClientError) as exc:  # outside the window
        iam.enable_mfa_device(
            UserName="alice",
            SerialNumber=serial,
            AuthenticationCode1=code(seed, step + 5),
            AuthenticationCode2=code(seed, step + 6),
        )
    assert err(exc)[0] == "InvalidAuthenticationCode"
    enable(iam, "alice", serial, seed)
    devices = iam.list_mfa_devices(UserName="alice")["MFADevices"]
    assert [(d["UserName"], d["SerialNumber"]) for d in devices] == [("alice", serial)]
    assert iam.get_mfa_device(SerialNumber=serial)["UserName"] == "alice"
    assigned = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
    assert [d["User"]["UserName"] for d in assigned] == ["alice"] and "EnableDate" in assigned[0]
    assert iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"] == []

    iam.create_user(UserName="bob")
    with pytest.raises(ClientError) as exc:
        enable(iam, "bob", serial, seed)
    assert err(exc)[0] == "EntityAlreadyExists"
    with pytest.raises(ClientError) as exc:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert err(exc)[:2] == ("DeleteConflict", "MFA Device is still in use")
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="alice")
    assert err(exc)[0] == "DeleteConflict"

    iam.deactivate_mfa_device(UserName="alice", SerialNumber=serial)
    assert iam.list_mfa_devices(UserName="alice")["MFADevices"] == []
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    with pytest.raises(ClientError) as exc:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert err(exc)[0] == "NoSuchEntity"
    iam.delete_user(UserName="alice")


def test_ninth_device_refused(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="many")
    for i in range(8):
        serial, seed = create_device(iam, f"d{i}")
        enable(iam, "many", serial, seed)
    serial, seed = create_device(iam, "d8")
    with pytest.raises(ClientError) as exc:
        enable(iam, "many", serial, seed)
    assert err(exc)[0] == "LimitExceeded"
    assert len(iam.list_mfa_devices(UserName="many")["MFADevices"]) == 8
    page = iam.list_mfa_devices(UserName="many", MaxItems=3)
    assert page["IsTruncated"] and len(page["MFADevices"]) == 3
    seen = [d["SerialNumber"] for d in page["MFADevices"]]
    while page["IsTruncated"]:
        page = iam.list_mfa_devices(UserName="many", MaxItems=3, Marker=page["Marker"])
        seen += [d["SerialNumber"] for d in page["MFADevices"]]
    assert len(seen) == 8 == len(set(seen))
    everything = iam.list_virtual_mfa_devices(MaxItems=4)
    assert everything["IsTruncated"] and len(everything["VirtualMFADevices"]) == 4
    assert len(iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]) == 1


def test_tags(iamd: Server, iam: Any) -> None:
    serial, _ = create_device(iam, "tagged")
    iam.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    iam.untag_mfa_device(SerialNumber=serial, TagKeys=["a"])
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as exc:
        iam.list_mfa_device_tags(SerialNumber=f"arn:aws:iam::{iamd.account_id}:mfa/nope")
    assert err(exc)[0] == "NoSuchEntity"


# --- STS and policies --------------------------------------------------------------------------------------


def test_session_with_mfa_and_policies_requiring_it(iamd: Server, iam: Any) -> None:
    require = policy(
        {
            "Effect": "Allow",
            "Action": ["iam:ListUsers", "iam:GetUser"],
            "Resource": "*",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
        },
        {"Effect": "Allow", "Action": ["iam:ListVirtualMFADevices"], "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "iam:ListVirtualMFADevices",
            "Resource": "*",
            "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
        },
    )
    _, user_iam, user_sts = user_with_key(iamd, "alice", require)
    serial, seed = create_device(iam, "alice-phone")
    step = enable(iam, "alice", serial, seed)
    for call in (user_iam.list_users, user_iam.list_virtual_mfa_devices):
        with pytest.raises(ClientError) as exc:
            call()
        assert err(exc)[0] == "AccessDenied"

    with pytest.raises(ClientError) as exc:
        user_sts.get_session_token(SerialNumber=serial, TokenCode=code(seed, step + 9))
    assert err(exc) == ("AccessDenied", INVALID, 403)
    with pytest.raises(ClientError) as exc:
        user_sts.get_session_token(SerialNumber=serial + "x", TokenCode=code(seed, step + 1))
    assert err(exc)[:2] == ("AccessDenied", UNABLE)

    creds = user_sts.get_session_token(SerialNumber=serial, TokenCode=code(seed, step + 1))["Credentials"]
    s_iam, _ = session_clients(iamd, creds)
    assert "alice" in [u["UserName"] for u in s_iam.list_users()["Users"]]
    s_iam.list_virtual_mfa_devices()

    with pytest.raises(ClientError) as exc:  # replay of an accepted code
        user_sts.get_session_token(SerialNumber=serial, TokenCode=code(seed, step + 1))
    assert err(exc) == ("AccessDenied", INVALID, 403)
    with pytest.raises(ClientError) as exc:  # the enable codes were consumed too
        user_sts.get_session_token(SerialNumber=serial, TokenCode=code(seed, step))
    assert err(exc)[:2] == ("AccessDenied", INVALID)

    # a device of another user is refused
    _, _, bob_sts = user_with_key(iamd, "bob")
    with pytest.raises(ClientError) as exc:
        bob_sts.get_session_token(SerialNumber=serial, TokenCode=code(seed, step + 1))
    assert err(exc)[:2] == ("AccessDenied", UNABLE)


def test_assume_role_with_mfa(iamd: Server, iam: Any) -> None:
    role_arn = f"arn:aws:iam::{iamd.account_id}:role/admin"
    iam.create_role(
        RoleName="admin",
        AssumeRolePolicyDocument=policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": iamd.account_id},
                "Action": "sts:AssumeRole",
                "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
            }
        ),
    )
    iam.put_role_policy(
        RoleName="admin",
        PolicyName="mfa-only",
        PolicyDocument=policy(
            {
                "Effect": "Allow",
                "Action": "iam:ListRoles",
                "Resource": "*",
                "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
            }
        ),
    )
    _, _, user_sts = user_with_key(
        iamd, "alice", policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn})
    )
    serial, seed = create_device(iam, "alice-phone")
    step = enable(iam, "alice", serial, seed)
    with pytest.raises(ClientError) as exc:
        user_sts.assume_role(RoleArn=role_arn, RoleSessionName="nomfa")
    assert err(exc)[0] == "AccessDenied"
    out = user_sts.assume_role(
        RoleArn=role_arn, RoleSessionName="withmfa", SerialNumber=serial, TokenCode=code(seed, step + 1)
    )
    r_iam, _ = session_clients(iamd, out["Credentials"])
    assert [r["RoleName"] for r in r_iam.list_roles()["Roles"]] == ["admin"]


def test_wrong_codes_lock_the_device(iamd: Server, iam: Any) -> None:
    _, _, user_sts = user_with_key(iamd, "alice")
    serial, seed = create_device(iam, "alice-phone")
    step = enable(iam, "alice", serial, seed)
    good = code(seed, step + 1)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    for _ in range(5):
        with pytest.raises(ClientError) as exc:
            user_sts.get_session_token(SerialNumber=serial, TokenCode=wrong)
        assert err(exc)[:2] == ("AccessDenied", INVALID)
    with pytest.raises(ClientError) as exc:  # locked: even the right code is refused, same message
        user_sts.get_session_token(SerialNumber=serial, TokenCode=good)
    assert err(exc)[:2] == ("AccessDenied", INVALID)


def test_root_mfa(iamd: Server, iam: Any, sts: Any) -> None:
    serial, seed = create_device(iam, "root-account-mfa-device")
    step = enable(iam, iamd.account_id, serial, seed)
    assert iam.get_account_summary()["SummaryMap"]["AccountMFAEnabled"] == 1
    assert [d["SerialNumber"] for d in iam.list_mfa_devices()["MFADevices"]] == [serial]
    creds = sts.get_session_token(SerialNumber=serial, TokenCode=code(seed, step + 1))["Credentials"]
    s_iam, _ = session_clients(iamd, creds)
    s_iam.list_users()
    iam.deactivate_mfa_device(SerialNumber=serial)
    assert iam.get_account_summary()["SummaryMap"]["AccountMFAEnabled"] == 0


def test_aws_cli_flow(iamd: Server, iam: Any, tmp_path: Path) -> None:
    iam.create_user(UserName="carol")
    key = iam.create_access_key(UserName="carol")["AccessKey"]
    qr = tmp_path / "qr.png"
    out = iamd.aws(
        "iam",
        "create-virtual-mfa-device",
        "--virtual-mfa-device-name",
        "carol-phone",
        "--outfile",
        str(qr),
        "--bootstrap-method",
        "QRCodePNG",
    )
    serial = out["VirtualMFADevice"]["SerialNumber"]
    assert qr.read_bytes().startswith(b"\x89PNG")
    seed_file = tmp_path / "seed.txt"
    out = iamd.aws(
        "iam",
        "create-virtual-mfa-device",
        "--virtual-mfa-device-name",
        "carol-2",
        "--outfile",
        str(seed_file),
        "--bootstrap-method",
        "Base32StringSeed",
    )
    serial = out["VirtualMFADevice"]["SerialNumber"]
    seed = totp.from_base32(seed_file.read_text())
    step = fresh_step()
    iamd.aws(
        "iam",
        "enable-mfa-device",
        "--user-name",
        "carol",
        "--serial-number",
        serial,
        "--authentication-code1",
        code(seed, step - 1),
        "--authentication-code2",
        code(seed, step),
    )
    creds = iamd.aws(
        "sts",
        "get-session-token",
        "--serial-number",
        serial,
        "--token-code",
        code(seed, step + 1),
        access_key_id=key["AccessKeyId"],
        secret_access_key=key["SecretAccessKey"],
    )["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")


# --- hardware tokens ------------------------------------------------------------------------------------


PSKC = """<?xml version="1.0" encoding="UTF-8"?>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">
{packages}
</KeyContainer>
"""

PACKAGE = """  <KeyPackage>
    <DeviceInfo><Manufacturer>Example</Manufacturer><SerialNo>{serial}</SerialNo></DeviceInfo>
    <Key Id="{serial}" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <AlgorithmParameters><ResponseFormat Length="6" Encoding="DECIMAL"/></AlgorithmParameters>
      <Data>
        <Secret><PlainValue>{secret}</PlainValue></Secret>
        <TimeInterval><PlainValue>{period}</PlainValue></TimeInterval>
      </Data>
    </Key>
  </KeyPackage>"""


def test_hardware_tokens_from_pskc(iamd: Server, iam: Any, tmp_path: Path) -> None:
    import base64

    seeds = {f"GAKT{n:08d}": bytes([n]) * 20 for n in (1, 2)}
    packages = "\n".join(
        PACKAGE.format(serial=s, secret=base64.b64encode(seed).decode(), period=30) for s, seed in seeds.items()
    )
    path = tmp_path / "tokens.pskc"
    path.write_text(PSKC.format(packages=packages))
    proc = iamd.cli("mfa", "import-tokens", str(path))
    assert proc.returncode == 0, proc.stderr
    assert sorted(json.loads(proc.stdout)["Imported"]) == sorted(seeds)
    proc = iamd.cli("mfa", "import-tokens", str(path))
    assert proc.returncode != 0 and "GAKT00000001" in proc.stderr

    gov = tmp_path / "gov.pskc"
    gov.write_text(
        PSKC.format(packages=PACKAGE.format(serial="GOVT00000001", secret="MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", period=30))
    )
    proc = iamd.cli("mfa", "import-tokens", str(gov), "--partition", "aws-us-gov")
    assert proc.returncode == 0, proc.stderr

    _, _, user_sts = user_with_key(iamd, "dave")
    step = enable(iam, "dave", "GAKT00000001", seeds["GAKT00000001"])
    user_sts.get_session_token(SerialNumber="GAKT00000001", TokenCode=code(seeds["GAKT00000001"], step + 1))
    assert iam.get_mfa_device(SerialNumber="GAKT00000001")["UserName"] == "dave"
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []
    with pytest.raises(ClientError) as exc:
        enable(iam, "dave", "GOVT00000001", b"12345678901234567890")
    code_, message, _ = err(exc)
    assert code_ == "InvalidInput" and "aws-us-gov" in message
    with pytest.raises(ClientError) as exc:
        enable(iam, "dave", "NOPE00000001", b"12345678901234567890")
    assert err(exc)[0] == "NoSuchEntity"


def test_seeds_are_not_stored_in_clear(iamd: Server, iam: Any) -> None:
    out = iam.create_virtual_mfa_device(VirtualMFADeviceName="secret-phone")["VirtualMFADevice"]
    if iamd.database_url is not None:
        import psycopg

        url = iamd.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT seed_enc FROM mfa_devices").fetchone()
        assert row is not None
        raw = bytes(row[0])
    else:
        raw = b"".join(p.read_bytes() for p in iamd.data_dir.glob("iamd.db*") if p.is_file())
    seed_b32 = out["Base32StringSeed"]
    assert seed_b32 not in raw and totp.from_base32(seed_b32.decode()) not in raw


def test_encrypted_pskc_import_with_password_and_bad_files(iamd: Server, tmp_path: Path) -> None:
    import hashlib

    from tests.unit.services.test_pskc import HEAD, encrypted_file, pbkdf2_xml

    salt = b"saltsalt"
    key = hashlib.pbkdf2_hmac("sha1", b"s3cret", salt, 1000, 16)
    path = tmp_path / "enc.pskc"
    path.write_bytes(encrypted_file(key, pbkdf2_xml(salt, 1000), ["ENCT00000001"]))
    proc = iamd.cli("mfa", "import-tokens", str(path), "--stdin", "password", input_text="wrong\n")
    assert proc.returncode == 1 and "nothing was imported" in proc.stderr
    proc = iamd.cli("mfa", "import-tokens", str(path), "--stdin", "password", input_text="s3cret\n")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Imported"] == ["ENCT00000001"]
    bad = tmp_path / "bad.pskc"
    bad.write_text(HEAD + "<KeyPackage><Key/></KeyPackage></KeyContainer>")
    proc = iamd.cli("mfa", "import-tokens", str(bad))
    assert proc.returncode == 1 and "nothing was imported" in proc.stderr
