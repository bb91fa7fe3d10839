"""Federation throughput against one iamd worker (SQLite).

    python bench/bench_federation.py [--seconds 5] [--connections 16] [--assertions 600]

Prints AssumeRole requests per second (the baseline), AssumeRoleWithWebIdentity requests per second with
the provider's keys in memory (an RS256 ID token verified on every request: one RSA verify plus JSON; the
keys come from IAMD_OFFLINE_JWKS_DIR, which costs what a warm JWKS cache does: a dictionary look-up), their
ratio (issue 13 aims at >= 0.70), and AssumeRoleWithSAML requests per second (each assertion is accepted
once, so every request carries a fresh response of pysaml2's IdP, signed beforehand; XML canonicalization
and the replay-table insert are in the figure).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from bench.bench_server import load, populate, start  # noqa: E402
from bench.bench_sts import presign  # noqa: E402
from tests.support.jwt_signer import SigningKey, jwks, make_token  # noqa: E402
from tests.support.saml_idp import SamlIdp, b64  # noqa: E402
from tests.support.server import ACCOUNT_ID, ROOT_KEY, ROOT_SECRET  # noqa: E402

PROVIDER_URL = "oidc.bench.example.com"
A = "https://aws.amazon.com/SAML/Attributes/"


def unsigned(url: str, body: str) -> bytes:
    host = url.split("://", 1)[1]
    head = [
        "POST / HTTP/1.1",
        f"Host: {host}",
        f"Content-Length: {len(body)}",
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
    ]
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


async def _each_once(port: int, payloads: list[bytes], counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while payloads:
        writer.write(payloads.pop())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode(errors="replace"))
        length = next(int(x.split(b":", 1)[1]) for x in head.split(b"\r\n") if x.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        counts.append(1)
    writer.close()


def load_each_once(port: int, payloads: list[bytes], connections: int) -> float:
    """Requests per second sending every payload exactly once over ``connections`` keep-alive connections."""

    async def run() -> float:
        counts: list[int] = []
        started = time.perf_counter()
        await asyncio.gather(*(_each_once(port, payloads, counts) for _ in range(connections)))
        return len(counts) / (time.perf_counter() - started)

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--assertions", type=int, default=600)
    args = parser.parse_args()
    results: dict[str, float] = {}
    key = SigningKey.generate("RS256", kid="bench")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        keys_dir = base / "jwks"
        keys_dir.mkdir()
        (keys_dir / (urllib.parse.quote(PROVIDER_URL, safe="") + ".json")).write_text(json.dumps(jwks(key)))
        idp = SamlIdp(base / "idp")
        data_dir = base / "data"
        data_dir.mkdir()
        populate(data_dir, 0, 0)
        os.environ["IAMD_OFFLINE_JWKS_DIR"] = str(keys_dir)
        proc, port = start(data_dir)
        url = f"http://127.0.0.1:{port}"
        try:
            iam = boto3.client(
                "iam",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id=ROOT_KEY,
                aws_secret_access_key=ROOT_SECRET,
            )
            oidc_arn = iam.create_open_id_connect_provider(Url=f"https://{PROVIDER_URL}", ClientIDList=["bench"])[
                "OpenIDConnectProviderArn"
            ]
            saml_arn = iam.create_saml_provider(Name="bench", SAMLMetadataDocument=idp.metadata())["SAMLProviderArn"]
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID}, "Action": "sts:AssumeRole"},
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": oidc_arn},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {"StringEquals": {f"{PROVIDER_URL}:aud": "bench"}},
                    },
                    {"Effect": "Allow", "Principal": {"Federated": saml_arn}, "Action": "sts:AssumeRoleWithSAML"},
                ],
            }
            iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust))
            role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/bench"
            iam.create_user(UserName="bench-admin")
            iam.attach_user_policy(UserName="bench-admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
            admin = iam.create_access_key(UserName="bench-admin")["AccessKey"]
            assume = presign(
                url,
                f"Action=AssumeRole&Version=2011-06-15&RoleArn={role_arn}&RoleSessionName=bench-load",
                admin["AccessKeyId"],
                admin["SecretAccessKey"],
            )
            now = int(time.time())
            token = make_token(
                key,
                {"iss": f"https://{PROVIDER_URL}", "sub": "bench-user", "aud": "bench", "iat": now, "exp": now + 3600},
            )
            web = unsigned(
                url,
                urllib.parse.urlencode(
                    {
                        "Action": "AssumeRoleWithWebIdentity",
                        "Version": "2011-06-15",
                        "RoleArn": role_arn,
                        "RoleSessionName": "bench-web",
                        "WebIdentityToken": token,
                    }
                ),
            )
            attributes = {A + "Role": [f"{role_arn},{saml_arn}"], A + "RoleSessionName": ["bench-saml"]}
            saml_payloads = [
                unsigned(
                    url,
                    urllib.parse.urlencode(
                        {
                            "Action": "AssumeRoleWithSAML",
                            "Version": "2011-06-15",
                            "RoleArn": role_arn,
                            "PrincipalArn": saml_arn,
                            "SAMLAssertion": b64(idp.response(f"user-{i}", attributes)),
                        }
                    ),
                )
                for i in range(args.assertions)
            ]
            load(port, assume, 1.0, args.connections)  # warm-up
            load(port, web, 1.0, args.connections)
            results["AssumeRole req/s"] = load(port, assume, args.seconds, args.connections)
            results["AssumeRoleWithWebIdentity req/s"] = load(port, web, args.seconds, args.connections)
            results["AssumeRoleWithSAML req/s"] = load_each_once(port, saml_payloads, args.connections)
        finally:
            proc.terminate()
            proc.wait()
    for name, value in results.items():
        print(f"{name:40s} {value:10.0f}")
    ratio = results["AssumeRoleWithWebIdentity req/s"] / results["AssumeRole req/s"]
    print(f"{'web identity / AssumeRole':40s} {ratio:10.2f}")
    print(json.dumps({k: round(v) for k, v in results.items()}))


if __name__ == "__main__":
    main()
