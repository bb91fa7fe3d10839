"""The agent's identity with iamd: enrolment, and the credential source that uses it.

``enroll`` makes the agent's own P-256 key (written 0600 in the state directory, never sent), trades the
bootstrap token and a CSR for a client certificate at ``POST /_iamd/workloads/enroll``, and writes the
certificate and what iamd said about the workload (``workload.json``). ``IamdWorkloadSource`` then asks
``POST /_iamd/workloads/credentials`` for the bound role's credentials, signed with that key
(``AWS4-X509-ECDSA-SHA256``, credential scope service ``iamd-workload``), and renews the certificate at
``/_iamd/workloads/renew`` once two thirds of its life are over.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from iamd.agent.client import check_endpoint, opener, post_json
from iamd.agent.credentials import Credentials, CredentialSourceError
from iamd.agent.imds import InstanceIdentity
from iamd.auth.x509 import WORKLOAD_SERVICE, sign_request
from iamd.core.clock import Clock, SystemClock

__all__ = ["IamdWorkloadSource", "WorkloadState", "enroll"]

KEY_FILE = "workload.key"
CERT_FILE = "workload.crt"
STATE_FILE = "workload.json"
USER_AGENT = "iamd-agent/0.1"


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by its owner only (created 0600, then renamed into place)."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


@dataclass(frozen=True, slots=True)
class WorkloadState:
    """What enrolment left in the state directory."""

    endpoint: str
    region: str
    document: dict[str, Any]
    """iamd's answer: workloadId, accountId, kind, roleName, roleArn, instanceProfileArn/Id, renewAfter..."""
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    @property
    def workload_id(self) -> str:
        return str(self.document["workloadId"])

    @property
    def renew_after(self) -> datetime:
        return _parse_time(str(self.document["renewAfter"]))

    def identity(self, started_at: datetime | None = None) -> InstanceIdentity:
        doc = self.document
        return InstanceIdentity(
            role_name=str(doc.get("roleName") or ""),
            region=self.region,
            account_id=str(doc["accountId"]),
            instance_id=self.workload_id,
            started_at=started_at,
            instance_profile_arn=doc.get("instanceProfileArn"),
            instance_profile_id=doc.get("instanceProfileId"),
        )

    @classmethod
    def load(cls, state_dir: Path) -> WorkloadState:
        try:
            saved = json.loads((state_dir / STATE_FILE).read_text())
            certificate = x509.load_pem_x509_certificate((state_dir / CERT_FILE).read_bytes())
            key = serialization.load_pem_private_key((state_dir / KEY_FILE).read_bytes(), None)
        except (OSError, ValueError, TypeError) as error:
            raise ValueError(
                f"{state_dir} holds no usable enrolment ({error}); run 'iamd agent enroll' first."
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{state_dir / KEY_FILE} is not the agent's EC key.")
        return cls(saved["endpoint"], saved["region"], saved["workload"], certificate, key)

    def save(self, state_dir: Path) -> None:
        key_pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_private(state_dir / KEY_FILE, key_pem)
        _write_private(state_dir / CERT_FILE, self.certificate.public_bytes(serialization.Encoding.PEM))
        saved = {"endpoint": self.endpoint, "region": self.region, "workload": self.document}
        _write_private(state_dir / STATE_FILE, json.dumps(saved, indent=2).encode())


def _csr(key: ec.EllipticCurvePrivateKey) -> str:
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "iamd workload")]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


def _from_answer(endpoint: str, region: str, answer: object, key: ec.EllipticCurvePrivateKey) -> WorkloadState:
    if not isinstance(answer, dict) or not isinstance(answer.get("certificate"), str):
        raise CredentialSourceError(f"{endpoint} answered without a certificate.")
    certificate = x509.load_pem_x509_certificate(answer["certificate"].encode())
    document = {k: v for k, v in answer.items() if k not in ("certificate", "caCertificates")}
    return WorkloadState(endpoint, region, document, certificate, key)


def _json_request(url: str, document: dict[str, Any], headers: list[tuple[str, str]]) -> urllib.request.Request:
    request = urllib.request.Request(url, data=json.dumps(document).encode(), method="POST")  # noqa: S310
    for name, value in headers:
        request.add_header(name, value)
    request.add_header("User-Agent", USER_AGENT)
    return request


def enroll(
    endpoint: str,
    bootstrap_token: str,
    state_dir: Path,
    *,
    region: str = "us-east-1",
    ca_bundle: Path | None = None,
    verify_tls: bool = True,
) -> WorkloadState:
    """Enrol with iamd and keep the result in ``state_dir`` (made 0700)."""
    endpoint = check_endpoint(endpoint)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    url = f"{endpoint}/_iamd/workloads/enroll"
    request = _json_request(
        url, {"bootstrapToken": bootstrap_token.strip(), "csr": _csr(key)}, [("Content-Type", "application/json")]
    )
    client = opener(endpoint, ca_bundle=ca_bundle, verify_tls=verify_tls)
    state = _from_answer(endpoint, region, post_json(client, request, "Enroll", endpoint), key)
    state.save(state_dir)
    return state


class IamdWorkloadSource:
    """The agent's CredentialSource: the bound role's credentials from iamd's workload endpoint."""

    def __init__(
        self,
        state_dir: Path,
        *,
        duration_seconds: int | None = None,
        imds_v1_allowed: bool = False,
        ca_bundle: Path | None = None,
        verify_tls: bool = True,
        clock: Clock | None = None,
    ) -> None:
        self._state_dir = state_dir
        self.state = WorkloadState.load(state_dir)
        self.duration_seconds = duration_seconds
        self._imds_v1 = imds_v1_allowed
        self._now = (clock or SystemClock()).now
        self._opener = opener(self.state.endpoint, ca_bundle=ca_bundle, verify_tls=verify_tls)
        self._lock = threading.Lock()

    def _signed(self, operation: str, document: dict[str, Any]) -> urllib.request.Request:
        state = self.state
        split = urlsplit(state.endpoint)
        path = f"{split.path.rstrip('/')}/_iamd/workloads/{operation}"
        body = json.dumps(document).encode()
        headers = sign_request(
            method="POST",
            path=path,
            query_string="",
            headers=[("Host", split.netloc), ("Content-Type", "application/json")],
            body=body,
            certificate=state.certificate,
            private_key=state.private_key,
            region=state.region,
            when=self._now(),
            service=WORKLOAD_SERVICE,
        )
        request = urllib.request.Request(f"{split.scheme}://{split.netloc}{path}", data=body, method="POST")  # noqa: S310
        for name, value in headers:
            request.add_header(name, value)
        request.add_header("User-Agent", USER_AGENT)
        return request

    def renew(self) -> None:
        """A new key and certificate (the old certificate stays valid at iamd until it expires)."""
        key = ec.generate_private_key(ec.SECP256R1())
        answer = post_json(self._opener, self._signed("renew", {"csr": _csr(key)}), "Renew", self.state.endpoint)
        state = _from_answer(self.state.endpoint, self.state.region, answer, key)
        state.save(self._state_dir)
        self.state = state

    def fetch(self) -> Credentials:
        with self._lock:
            if self._now() >= self.state.renew_after:
                self.renew()
            document: dict[str, Any] = {"imdsV1Allowed": self._imds_v1}
            if self.duration_seconds is not None:
                document["durationSeconds"] = self.duration_seconds
            request = self._signed("credentials", document)
        answer = post_json(self._opener, request, "GetWorkloadCredentials", self.state.endpoint)
        try:
            if not isinstance(answer, dict):
                raise TypeError
            return Credentials(
                access_key_id=answer["AccessKeyId"],
                secret_access_key=answer["SecretAccessKey"],
                session_token=answer["SessionToken"],
                expiration=_parse_time(answer["Expiration"]),
                account_id=answer.get("AccountId"),
                role_arn=answer.get("RoleArn"),
            )
        except (KeyError, TypeError, ValueError):
            raise CredentialSourceError(f"{self.state.endpoint} answered without usable credentials.") from None
