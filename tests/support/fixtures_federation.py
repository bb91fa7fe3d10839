"""Real identity providers as test peers.

``oidc_issuer``: panva/oidc-provider (npm, pinned in tests/support/oidc_issuer/package-lock.json) served over
HTTPS on a loopback port with a throwaway CA; ``mint()`` returns a fresh ID token signed by the provider.
The npm packages are installed once with ``npm ci`` into a cache directory keyed by the lock file
(``IAMD_TEST_CACHE`` or ~/.cache/iamd-tests); an installed copy is used as it is, offline.

Use it from a test module with ``from tests.support.fixtures_federation import oidc_issuer  # noqa: F401``.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.jwt_signer import SigningKey
from tests.support.tls_ca import TlsFiles, make_tls_files

ISSUER_SOURCE = Path(__file__).parent / "oidc_issuer"
START_TIMEOUT_SECONDS = 60


def cache_root() -> Path:
    return Path(os.environ.get("IAMD_TEST_CACHE") or Path.home() / ".cache" / "iamd-tests")


def install_oidc_issuer() -> Path:
    """oidc-provider installed from the lock file into the cache (npm ci once; reused offline)."""
    digest = hashlib.sha256((ISSUER_SOURCE / "package-lock.json").read_bytes())
    digest.update((ISSUER_SOURCE / "server.js").read_bytes())
    target = cache_root() / f"oidc_issuer-{digest.hexdigest()[:16]}"
    marker = target / "node_modules" / ".iamd-installed"
    target.mkdir(parents=True, exist_ok=True)
    with (target.parent / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers install once, one at a time
        _install(target, marker)
    return target


def _install(target: Path, marker: Path) -> None:
    if not marker.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed for the OIDC issuer test peer (Debian: apt-get install npm)")
        for name in ("package.json", "package-lock.json", "server.js"):
            shutil.copyfile(ISSUER_SOURCE / name, target / name)
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"],
            cwd=target,
            check=True,
            timeout=600,
        )
        marker.write_text("ok\n")


@dataclass
class OidcClient:
    client_id: str
    client_secret: str
    alg: str = "RS256"

    def as_config(self) -> dict[str, str]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "id_token_signed_response_alg": self.alg,
        }


@dataclass
class OidcIssuer:
    """One running oidc-provider; ``issuer`` is its https://127.0.0.1:PORT URL."""

    directory: Path
    work: Path
    tls: TlsFiles
    keys: list[SigningKey]
    clients: list[OidcClient] = field(default_factory=list)
    issuer: str = ""
    process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        node = shutil.which("node")
        if node is None:
            pytest.fail("node is needed for the OIDC issuer test peer (Debian: apt-get install nodejs)")
        config = {
            "port": 0,
            "tls": {"cert": str(self.tls.cert_file), "key": str(self.tls.key_file)},
            "jwks": {"keys": [k.private_jwk() for k in self.keys]},
            "clients": [c.as_config() for c in self.clients],
        }
        config_file = self.work / "issuer.json"
        config_file.write_text(json.dumps(config))
        self.process = subprocess.Popen(
            [node, str(self.directory / "server.js"), str(config_file)],
            stdout=subprocess.PIPE,
            stderr=(self.work / "issuer.log").open("w"),
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(START_TIMEOUT_SECONDS)
            log = (self.work / "issuer.log").read_text()
            pytest.fail(f"the OIDC issuer did not start:\n{log}")
        self.issuer = json.loads(line)["issuer"]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    @property
    def provider_url(self) -> str:
        """The issuer as IAM names providers: without ``https://``."""
        return self.issuer.removeprefix("https://")

    def _open(self, request: urllib.request.Request) -> bytes:
        context = ssl.create_default_context(cafile=str(self.tls.ca_file))
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            body: bytes = response.read()
            return body

    def mint(
        self,
        sub: str = "user-123",
        *,
        client: OidcClient | None = None,
        claims: Mapping[str, Any] | None = None,
        ttl: int | None = None,
    ) -> str:
        """A fresh ID token from the provider's token endpoint (custom grant, client_secret_basic)."""
        client = client or self.clients[0]
        form = {"grant_type": "urn:iamd:test:id-token", "sub": sub}
        if claims:
            form["claims"] = json.dumps(dict(claims))
        if ttl is not None:
            form["ttl"] = str(ttl)
        basic = f"{urllib.parse.quote(client.client_id)}:{urllib.parse.quote(client.client_secret)}"
        request = urllib.request.Request(
            f"{self.issuer}/token",
            data=urllib.parse.urlencode(form).encode(),
            headers={
                "Authorization": "Basic " + base64.b64encode(basic.encode()).decode(),
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        token: str = json.loads(self._open(request))["id_token"]
        return token

    def rotate(self, keys: Sequence[SigningKey]) -> None:
        """Replace the provider's signing keys (same issuer, same port)."""
        self.keys = list(keys)
        request = urllib.request.Request(
            f"{self.issuer}/__admin/keys",
            data=json.dumps({"keys": [k.private_jwk() for k in self.keys]}).encode(),
            method="POST",
        )
        self._open(request)

    def get(self, path: str) -> bytes:
        return self._open(urllib.request.Request(f"{self.issuer}{path}"))


@pytest.fixture(scope="module")
def oidc_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcIssuer]:
    """A running oidc-provider with an RS256 key and an ES256 key, and one client per algorithm."""
    work = tmp_path_factory.mktemp("oidc-issuer")
    issuer = OidcIssuer(
        directory=install_oidc_issuer(),
        work=work,
        tls=make_tls_files(work / "tls"),
        keys=[SigningKey.generate("RS256", kid="rsa-1"), SigningKey.generate("ES256", kid="ec-1")],
        clients=[
            OidcClient("iamd-client", "secret-rs256-client-0123456789"),
            OidcClient("iamd-ec", "secret-es256-client-0123456789", "ES256"),
        ],
    )
    issuer.start()
    try:
        yield issuer
    finally:
        issuer.stop()
