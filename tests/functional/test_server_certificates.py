"""IAM server certificates through boto3 and the AWS CLI against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from iamd.core.quotas import QuotaSettings
from tests.support.server import ACCOUNT_ID, Server

# --- certificates for the tests ------------------------------------------------------------------------

NOT_AFTER = dt.datetime(2036, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_pem(key: Any) -> str:
    return str(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode()
    )


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def make_cert(
    key: Any,
    common_name: str,
    *,
    issuer_name: str | None = None,
    issuer_key: Any = None,
    ca: bool = False,
    not_after: dt.datetime = NOT_AFTER,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name or common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key or key, hashes.SHA256())


@cache
def self_signed() -> tuple[str, str]:
    """(certificate PEM, private key PEM): a self-signed RSA 2048 certificate."""
    key = rsa_key()
    return cert_pem(make_cert(key, "www.example.com")), key_pem(key)


@cache
def other_key() -> str:
    return key_pem(rsa_key())


@cache
def signed_by_ca() -> tuple[str, str, str]:
    """(leaf PEM, leaf key PEM, chain PEM: intermediate then root)."""
    root_key, inter_key, leaf_key = rsa_key(), rsa_key(), rsa_key()
    root = make_cert(root_key, "Test Root CA", ca=True)
    inter = make_cert(inter_key, "Test Intermediate CA", issuer_name="Test Root CA", issuer_key=root_key, ca=True)
    leaf = make_cert(leaf_key, "api.example.com", issuer_name="Test Intermediate CA", issuer_key=inter_key)
    return cert_pem(leaf), key_pem(leaf_key), cert_pem(inter) + cert_pem(root)


def upload(iam: Any, name: str, **extra: Any) -> dict[str, Any]:
    body, key = self_signed()
    result: dict[str, Any] = iam.upload_server_certificate(
        ServerCertificateName=name, CertificateBody=body, PrivateKey=key, **extra
    )
    return result


def db_engine(server: Server) -> sa.Engine:
    url = server.database_url or f"sqlite:///{(server.data_dir / 'iamd.db').resolve()}"
    return sa.create_engine(url)


def second_account(iamd: Server) -> Any:
    proc = iamd.cli("accounts", "create")
    assert proc.returncode == 0, proc.stderr
    creds = json.loads(proc.stdout)
    return iamd.client("iam", access_key_id=creds["AccessKeyId"], secret_access_key=creds["SecretAccessKey"])


def unvalidated_client(iamd: Server) -> Any:
    return boto3.client(
        "iam",
        endpoint_url=iamd.url,
        region_name="us-east-1",
        aws_access_key_id=iamd.access_key_id,
        aws_secret_access_key=iamd.secret_access_key,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )


# --- tests ---------------------------------------------------------------------------------------------


def test_upload_get_list_delete(iam: Any) -> None:
    body, _ = self_signed()
    out = upload(iam, "web", Path="/cloudfront/", Tags=[{"Key": "env", "Value": "prod"}])
    meta = out["ServerCertificateMetadata"]
    assert meta["ServerCertificateName"] == "web"
    assert meta["Path"] == "/cloudfront/"
    assert meta["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:server-certificate/cloudfront/web"
    assert meta["ServerCertificateId"].startswith("ASCA") and len(meta["ServerCertificateId"]) == 21
    assert meta["Expiration"] == NOT_AFTER
    assert isinstance(meta["UploadDate"], dt.datetime)
    assert out["Tags"] == [{"Key": "env", "Value": "prod"}]

    got = iam.get_server_certificate(ServerCertificateName="WEB")["ServerCertificate"]  # case-insensitive
    assert got["ServerCertificateMetadata"] == meta
    assert got["CertificateBody"] == body
    assert "CertificateChain" not in got
    assert got["Tags"] == [{"Key": "env", "Value": "prod"}]
    assert "PrivateKey" not in json.dumps(got, default=str)

    listed = iam.list_server_certificates()
    assert listed["ServerCertificateMetadataList"] == [meta]
    assert listed["IsTruncated"] is False
    assert iam.list_server_certificates(PathPrefix="/cloudfront/")["ServerCertificateMetadataList"] == [meta]
    assert iam.list_server_certificates(PathPrefix="/elb/")["ServerCertificateMetadataList"] == []

    iam.delete_server_certificate(ServerCertificateName="web")
    with pytest.raises(ClientError) as exc:
        iam.get_server_certificate(ServerCertificateName="web")
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert exc.value.response["Error"]["Message"] == "The Server Certificate with name web cannot be found."
    assert iam.list_server_certificates()["ServerCertificateMetadataList"] == []


def test_private_key_is_stored_only_encrypted(iamd: Server, iam: Any) -> None:
    _, key = self_signed()
    cert_id = upload(iam, "secret")["ServerCertificateMetadata"]["ServerCertificateId"]
    engine = db_engine(iamd)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT private_key_enc, body FROM server_certificates WHERE id = :id"), {"id": cert_id}
            ).one()
    finally:
        engine.dispose()
    blob = bytes(row[0])
    assert b"PRIVATE KEY" not in blob
    assert key.split("\n")[1].encode() not in blob
    assert "PRIVATE KEY" not in row[1]


def test_chain_is_validated_and_returned(iam: Any) -> None:
    leaf, leaf_key, chain = signed_by_ca()
    iam.upload_server_certificate(
        ServerCertificateName="api", CertificateBody=leaf, PrivateKey=leaf_key, CertificateChain=chain
    )
    got = iam.get_server_certificate(ServerCertificateName="api")["ServerCertificate"]
    assert got["CertificateBody"] == leaf
    assert got["CertificateChain"] == chain

    # A chain that does not start with the certificate's issuer is refused.
    root_only = chain[chain.index("-----BEGIN CERTIFICATE-----", 10) :]
    with pytest.raises(ClientError) as exc:
        iam.upload_server_certificate(
            ServerCertificateName="api2", CertificateBody=leaf, PrivateKey=leaf_key, CertificateChain=root_only
        )
    assert error_of(exc) == ("MalformedCertificate", 400)
    assert "Unable to validate certificate chain" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        iam.upload_server_certificate(
            ServerCertificateName="api3", CertificateBody=leaf, PrivateKey=leaf_key, CertificateChain="not a chain"
        )
    assert error_of(exc) == ("MalformedCertificate", 400)


def test_malformed_certificate_and_key(iam: Any) -> None:
    body, key = self_signed()
    with pytest.raises(ClientError) as exc:
        iam.upload_server_certificate(ServerCertificateName="bad", CertificateBody="hello", PrivateKey=key)
    assert error_of(exc) == ("MalformedCertificate", 400)
    assert exc.value.response["Error"]["Message"] == (
        "Unable to parse certificate. Please ensure the certificate is in PEM format."
    )
    truncated = body.replace(body.split("\n")[3], "AAAA")
    with pytest.raises(ClientError) as exc:
        iam.upload_server_certificate(ServerCertificateName="bad", CertificateBody=truncated, PrivateKey=key)
    assert error_of(exc) == ("MalformedCertificate", 400)
    with pytest.raises(ClientError) as exc:
        iam.upload_server_certificate(ServerCertificateName="bad", CertificateBody=body, PrivateKey="not a key")
    assert error_of(exc) == ("MalformedCertificate", 400)
    encrypted = (
        rsa_key()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
        .decode()
    )
    with pytest.raises(ClientError) as exc:
        iam.upload_server_certificate(ServerCertificateName="bad", CertificateBody=body, PrivateKey=encrypted)
    assert error_of(exc) == ("MalformedCertificate", 400)
    assert iam.list_server_certificates()["ServerCertificateMetadataList"] == []


def test_key_pair_mismatch(iam: Any) -> None:
    body, _ = self_signed()
    with pytest.raises(ClientError) as exc:
        iam.upload_server_certificate(ServerCertificateName="mismatch", CertificateBody=body, PrivateKey=other_key())
    assert error_of(exc) == ("KeyPairMismatch", 400)
    # A key of another type cannot match either.
    ec_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ClientError) as exc:
        iam.upload_server_certificate(
            ServerCertificateName="mismatch", CertificateBody=body, PrivateKey=key_pem(ec_key)
        )
    assert error_of(exc) == ("KeyPairMismatch", 400)


def test_ecdsa_certificate(iam: Any) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    body = cert_pem(make_cert(key, "ec.example.com"))
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    meta = iam.upload_server_certificate(ServerCertificateName="ec", CertificateBody=body, PrivateKey=pem)
    assert meta["ServerCertificateMetadata"]["ServerCertificateName"] == "ec"


def test_duplicate_name_case_insensitive(iam: Any) -> None:
    upload(iam, "Site")
    with pytest.raises(ClientError) as exc:
        upload(iam, "site")
    assert error_of(exc) == ("EntityAlreadyExists", 409)
    assert exc.value.response["Error"]["Message"] == "The Server Certificate with name site already exists."


def test_update_rename_and_path(iam: Any) -> None:
    upload(iam, "one")
    upload(iam, "two")
    with pytest.raises(ClientError) as exc:
        iam.update_server_certificate(ServerCertificateName="one", NewServerCertificateName="TWO")
    assert error_of(exc) == ("EntityAlreadyExists", 409)
    with pytest.raises(ClientError) as exc:
        iam.update_server_certificate(ServerCertificateName="missing", NewPath="/x/")
    assert error_of(exc) == ("NoSuchEntity", 404)

    iam.update_server_certificate(ServerCertificateName="one", NewServerCertificateName="uno", NewPath="/x/")
    meta = iam.get_server_certificate(ServerCertificateName="uno")["ServerCertificate"]["ServerCertificateMetadata"]
    assert meta["Path"] == "/x/"
    assert meta["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:server-certificate/x/uno"
    with pytest.raises(ClientError) as exc:
        iam.get_server_certificate(ServerCertificateName="one")
    assert error_of(exc) == ("NoSuchEntity", 404)
    # Renaming to the same name with another case is allowed.
    iam.update_server_certificate(ServerCertificateName="uno", NewServerCertificateName="UNO")
    names = [m["ServerCertificateName"] for m in iam.list_server_certificates()["ServerCertificateMetadataList"]]
    assert names == ["two", "UNO"]


def test_delete_missing(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.delete_server_certificate(ServerCertificateName="nothing")
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert exc.value.response["Error"]["Message"] == "The Server Certificate with name nothing cannot be found."


def test_list_pagination(iam: Any) -> None:
    names = [f"cert-{i}" for i in range(5)]
    for name in reversed(names):
        upload(iam, name, Path="/p/" if name != "cert-2" else "/q/")
    seen: list[str] = []
    markers: list[str] = []
    kwargs: dict[str, Any] = {"MaxItems": 2}
    while True:
        page = iam.list_server_certificates(**kwargs)
        seen += [m["ServerCertificateName"] for m in page["ServerCertificateMetadataList"]]
        if not page["IsTruncated"]:
            assert "Marker" not in page
            break
        assert len(page["ServerCertificateMetadataList"]) == 2
        markers.append(page["Marker"])
        kwargs["Marker"] = page["Marker"]
    assert seen == names
    assert len(markers) == 2
    assert all("cert" not in m for m in markers)  # opaque
    paginator = iam.get_paginator("list_server_certificates")
    pages = list(paginator.paginate(PathPrefix="/p/", PaginationConfig={"PageSize": 3}))
    assert [m["ServerCertificateName"] for p in pages for m in p["ServerCertificateMetadataList"]] == [
        "cert-0",
        "cert-1",
        "cert-3",
        "cert-4",
    ]


def test_quota(iam: Any) -> None:
    limit = QuotaSettings().server_certificates
    for i in range(limit):
        upload(iam, f"c{i}")
    with pytest.raises(ClientError) as exc:
        upload(iam, "one-too-many")
    assert error_of(exc) == ("LimitExceeded", 409)
    assert exc.value.response["Error"]["Message"] == f"Cannot exceed quota for ServerCertificatesPerAccount: {limit}"
    iam.delete_server_certificate(ServerCertificateName="c0")
    upload(iam, "one-too-many")


def test_tags(iam: Any) -> None:
    upload(iam, "tagged", Tags=[{"Key": "a", "Value": "1"}])
    iam.tag_server_certificate(
        ServerCertificateName="tagged", Tags=[{"Key": "B", "Value": "2"}, {"Key": "A", "Value": "3"}]
    )
    tags = iam.list_server_certificate_tags(ServerCertificateName="tagged")
    assert tags["Tags"] == [{"Key": "A", "Value": "3"}, {"Key": "B", "Value": "2"}]
    assert tags["IsTruncated"] is False
    page = iam.list_server_certificate_tags(ServerCertificateName="tagged", MaxItems=1)
    assert page["IsTruncated"] is True and len(page["Tags"]) == 1
    rest = iam.list_server_certificate_tags(ServerCertificateName="tagged", Marker=page["Marker"])
    assert page["Tags"] + rest["Tags"] == tags["Tags"]
    iam.untag_server_certificate(ServerCertificateName="tagged", TagKeys=["a"])
    assert iam.list_server_certificate_tags(ServerCertificateName="tagged")["Tags"] == [{"Key": "B", "Value": "2"}]

    with pytest.raises(ClientError) as exc:
        iam.tag_server_certificate(ServerCertificateName="tagged", Tags=[{"Key": "aws:x", "Value": "1"}])
    assert error_of(exc) == ("InvalidInput", 400)
    with pytest.raises(ClientError) as exc:
        iam.tag_server_certificate(
            ServerCertificateName="tagged", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(QuotaSettings().tags)]
        )
    assert error_of(exc) == ("LimitExceeded", 409)
    for call in (
        lambda: iam.tag_server_certificate(ServerCertificateName="nope", Tags=[{"Key": "a", "Value": "1"}]),
        lambda: iam.untag_server_certificate(ServerCertificateName="nope", TagKeys=["a"]),
        lambda: iam.list_server_certificate_tags(ServerCertificateName="nope"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("NoSuchEntity", 404)
    # Tags go with the certificate.
    iam.delete_server_certificate(ServerCertificateName="tagged")
    upload(iam, "tagged")
    assert iam.list_server_certificate_tags(ServerCertificateName="tagged")["Tags"] == []


def test_upload_with_bad_tags_writes_nothing(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        upload(iam, "t", Tags=[{"Key": "k", "Value": "1"}, {"Key": "K", "Value": "2"}])
    assert error_of(exc) == ("InvalidInput", 400)
    assert iam.list_server_certificates()["ServerCertificateMetadataList"] == []


def test_server_side_validation(iamd: Server) -> None:
    raw = unvalidated_client(iamd)
    body, key = self_signed()
    with pytest.raises(ClientError) as exc:
        raw.upload_server_certificate(ServerCertificateName="bad name!", CertificateBody=body, PrivateKey=key)
    assert error_of(exc) == ("ValidationError", 400)
    with pytest.raises(ClientError) as exc:
        raw.upload_server_certificate(ServerCertificateName="x", CertificateBody=body)
    assert error_of(exc)[1] == 400


def test_accounts_are_isolated(iamd: Server, iam: Any) -> None:
    upload(iam, "mine")
    other = second_account(iamd)
    assert other.list_server_certificates()["ServerCertificateMetadataList"] == []
    with pytest.raises(ClientError) as exc:
        other.get_server_certificate(ServerCertificateName="mine")
    assert error_of(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        other.delete_server_certificate(ServerCertificateName="mine")
    assert error_of(exc) == ("NoSuchEntity", 404)
    # The same name is free in another account.
    meta = upload(other, "mine")["ServerCertificateMetadata"]
    assert f":{ACCOUNT_ID}:" not in meta["Arn"]
    assert iam.get_server_certificate(ServerCertificateName="mine")["ServerCertificate"]


def test_aws_cli(iamd: Server, tmp_path: Path) -> None:
    body, key = self_signed()
    (tmp_path / "cert.pem").write_text(body)
    (tmp_path / "key.pem").write_text(key)
    out = iamd.aws(
        "iam",
        "upload-server-certificate",
        "--server-certificate-name",
        "cli-cert",
        "--path",
        "/cli/",
        "--certificate-body",
        f"file://{tmp_path / 'cert.pem'}",
        "--private-key",
        f"file://{tmp_path / 'key.pem'}",
    )
    assert out["ServerCertificateMetadata"]["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:server-certificate/cli/cli-cert"
    listed = iamd.aws("iam", "list-server-certificates")
    assert [m["ServerCertificateName"] for m in listed["ServerCertificateMetadataList"]] == ["cli-cert"]
    got = iamd.aws("iam", "get-server-certificate", "--server-certificate-name", "cli-cert")
    assert got["ServerCertificate"]["CertificateBody"] == body
    iamd.aws("iam", "delete-server-certificate", "--server-certificate-name", "cli-cert")
    assert iamd.aws("iam", "list-server-certificates")["ServerCertificateMetadataList"] == []
