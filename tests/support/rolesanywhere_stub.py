"""A local stand-in for Roles Anywhere's CreateSession (``POST /sessions``) for client tests.

It verifies every request with iamd's own verifier (iamd.auth.x509_trust) against the trust anchors it
is given and answers a ``credentialSet`` shaped as AWS answers it, with made-up credentials. iamd's real
CreateSession handler (issue 12, stage 2) replaces it in functional tests; until then it lets the
credential helper and third-party clients be tested against the verifier over real HTTP(S).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

from cryptography import x509

from iamd.auth.x509 import X509AuthError
from iamd.auth.x509_identity import role_session_name, source_identity
from iamd.auth.x509_trust import VerifiedX509Request, verify_x509_request
from iamd.core.http import HttpRequest
from tests.support import pki


@dataclass
class Accepted:
    verified: VerifiedX509Request
    parameters: dict[str, object]
    access_key_id: str


@dataclass
class CreateSessionStub:
    anchors: Sequence[x509.Certificate]
    duration_seconds: int = 3600
    clock: Callable[[], float] = time.time
    crls: Sequence[x509.CertificateRevocationList] = ()
    accepted: list[Accepted] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    url: str = ""
    outage: bool = False
    """Answer 503 to everything (a CreateSession endpoint that is down)."""
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: HttpRequest) -> tuple[int, dict[str, str], bytes]:
        if self.outage:
            return 503, {"x-amzn-ErrorType": "ServiceUnavailableException"}, b'{"message":"Service unavailable"}'
        if request.method != "POST" or request.path != "/sessions":
            return 404, {}, b'{"message":"Not Found"}'
        try:
            verified = verify_x509_request(request, self.anchors, now=self.clock(), crls=self.crls)
        except X509AuthError as error:
            self.refused.append(error.message)
            body = json.dumps({"message": error.message}).encode()
            return error.status, {"x-amzn-ErrorType": error.aws_code}, body
        parameters: dict[str, object] = {k: v[0] for k, v in parse_qs(request.query_string).items()}
        if request.body:
            parameters.update(json.loads(request.body))
        with self._lock:
            self._count += 1
            access_key_id = f"ASIASTUB{self._count:012d}"
        self.accepted.append(Accepted(verified, parameters, access_key_id))
        leaf = verified.signature.certificate
        duration = int(parameters.get("durationSeconds", self.duration_seconds))  # type: ignore[call-overload]
        expiration = datetime.fromtimestamp(int(self.clock()) + duration, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        role_arn = str(parameters.get("roleArn", ""))
        session = role_session_name(leaf)
        answer = {
            "credentialSet": [
                {
                    "assumedRoleUser": {
                        "arn": role_arn.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/") + "/" + session,
                        "assumedRoleId": f"AROASTUB:{session}",
                    },
                    "credentials": {
                        "accessKeyId": access_key_id,
                        "expiration": expiration,
                        "secretAccessKey": f"secret-{self._count}",
                        "sessionToken": f"token-{self._count}",
                    },
                    "packedPolicySize": 0,
                    "roleArn": role_arn,
                    "sourceIdentity": source_identity(leaf),
                }
            ],
            "subjectArn": "arn:aws:rolesanywhere:us-east-1:123456789012:subject/stub",
        }
        return 201, {"Content-Type": "application/json"}, json.dumps(answer).encode()


def _handler_for(stub: CreateSessionStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path, _, query = self.path.partition("?")
            request = HttpRequest(
                method="POST",
                path=path,
                query_string=query,
                headers=tuple((name.lower(), value) for name, value in self.headers.items()),
                body=body,
            )
            status, headers, payload = stub.handle(request)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@contextmanager
def running_stub(stub: CreateSessionStub, tls: tuple[Path, Path] | None = None) -> Iterator[CreateSessionStub]:
    """Serve ``stub`` on a free loopback port (HTTPS with ``tls`` = (certificate file, key file))."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(stub))
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    stub.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A server certificate for 127.0.0.1/localhost: (certificate file, key file, CA bundle file)."""
    ca = pki.root_ca("stub TLS root")
    server = ca.issue_leaf("localhost", dns_names=["localhost"], ip_addresses=["127.0.0.1"])
    cert_path, key_path, _ = pki.write_pem(directory, "tls-server", server)
    bundle = directory / "tls-ca.pem"
    bundle.write_bytes(ca.cert_pem())
    return cert_path, key_path, bundle
