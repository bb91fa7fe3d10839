"""Workload credential figures (issue 12) against one iamd worker (SQLite).

    python bench/bench_workloads.py [--seconds 5] [--connections 8]

Prints, for RSA-2048 and P-256 leaves (signed by an intermediate under a root trust anchor):

* the verification floor, in this process: ``verify_signature`` + ``verify_path`` per second;
* Roles Anywhere CreateSession per second against the server (each request signed beforehand, with its
  own body so the replay check lets it through), next to GetCallerIdentity per second (one SigV4
  round trip through the same server), and the ratio the issue aims at: CreateSession's time per
  request over (verification + GetCallerIdentity);

and the agent's metadata credential requests per second (``iamd agent run`` in its own process,
credentials from iamd's workload endpoint, served from its cache).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from bench.bench_server import load, populate, presign, start  # noqa: E402
from iamd.auth.x509 import parse_x509_request, sign_request, verify_signature  # noqa: E402
from iamd.auth.x509_trust import verify_path  # noqa: E402
from iamd.core.http import HttpRequest  # noqa: E402
from tests.support import pki  # noqa: E402
from tests.support.server import ACCOUNT_ID, ROOT_KEY, ROOT_SECRET, free_port  # noqa: E402

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": ["rolesanywhere.amazonaws.com", "ecs-tasks.amazonaws.com"]},
            "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
        }
    ],
}


def _cli(data_dir: Path, *args: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-m", "iamd", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def _signed(host: str, leaf: pki.Issued, arns: dict[str, str], duration: int) -> tuple[HttpRequest, bytes]:
    """A CreateSession request (ARNs in the query, as AWS's helper sends them) and its HTTP/1.1 bytes."""
    query = "&".join(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in sorted(arns.items()))
    body = json.dumps({"durationSeconds": duration}).encode()
    headers = sign_request(
        method="POST",
        path="/sessions",
        query_string=query,
        headers=[("Host", host), ("Content-Type", "application/json")],
        body=body,
        certificate=leaf.certificate,
        private_key=leaf.key,  # type: ignore[arg-type]
        region="us-east-1",
        when=dt.datetime.now(dt.UTC),
        intermediates=leaf.intermediates,
    )
    request = HttpRequest(
        "POST", "/sessions", query, tuple((k.lower(), v) for k, v in headers), body, source_ip="127.0.0.1"
    )
    lines = [f"POST /sessions?{query} HTTP/1.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return request, ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def floor(leaf: pki.Issued, root: pki.Issued, host: str, arns: dict[str, str], seconds: float) -> float:
    request, _ = _signed(host, leaf, arns, 900)
    signature = parse_x509_request(request)
    now = dt.datetime.now(dt.UTC)
    done = 0
    stop = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < stop:
        verify_signature(request, signature)
        verify_path(signature.certificate, signature.intermediates, [root.certificate], now)
        done += 1
    return done / (time.perf_counter() - started)


async def _many(port: int, payloads: list[bytes], stop_at: float, expect: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    while payloads and time.perf_counter() < stop_at:
        writer.write(payloads.pop())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(expect):
            raise RuntimeError(head.decode(errors="replace"))
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        done += 1
    writer.close()
    return done


def create_sessions(port: int, payloads: list[bytes], seconds: float, connections: int) -> float:
    async def run() -> float:
        started = time.perf_counter()
        counts = await asyncio.gather(
            *(_many(port, payloads, started + seconds, b"HTTP/1.1 201") for _ in range(connections))
        )
        return sum(counts) / (time.perf_counter() - started)

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--presigned", type=int, default=4000, help="CreateSession requests signed beforehand")
    args = parser.parse_args()
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        populate(data_dir, 0, 0)
        proc, port = start(data_dir)
        host = f"127.0.0.1:{port}"
        url = f"http://{host}"
        agent: subprocess.Popen[bytes] | None = None
        try:
            iam = boto3.client(
                "iam",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id=ROOT_KEY,
                aws_secret_access_key=ROOT_SECRET,
            )
            iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(TRUST))
            role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/bench"
            root = pki.root_ca("bench root", key_type="rsa")
            bundle = Path(tmp) / "bundle.pem"
            bundle.write_bytes(root.cert_pem())
            anchor = _cli(data_dir, "rolesanywhere", "create-trust-anchor", "--name", "bench", "--bundle", str(bundle))
            profile = _cli(data_dir, "rolesanywhere", "create-profile", "--name", "bench", "--role-arn", role_arn)
            arns = {
                "trustAnchorArn": anchor["trustAnchor"]["trustAnchorArn"],  # type: ignore[index]
                "profileArn": profile["profile"]["profileArn"],  # type: ignore[index]
                "roleArn": role_arn,
            }
            caller_rate = load(
                port, presign(url, "Action=GetCallerIdentity&Version=2011-06-15", "sts"), args.seconds, args.connections
            )
            lines.append(f"GetCallerIdentity (SigV4 round trip): {caller_rate:,.0f}/s")
            for key_type, label in (("rsa", "RSA-2048"), ("ec", "P-256")):
                leaf = root.issue_ca(f"bench {label} CA", key_type=key_type).issue_leaf(
                    f"bench-{key_type}", key_type=key_type
                )
                verified = floor(leaf, root, host, arns, min(args.seconds, 3.0))
                payloads = [_signed(host, leaf, arns, 900 + i)[1] for i in range(args.presigned)]
                create_sessions(port, payloads[-200:], args.seconds, args.connections)  # warm-up, not counted
                del payloads[-200:]
                rate = create_sessions(port, payloads, args.seconds, args.connections)
                ratio = (1 / rate) / (1 / verified + 1 / caller_rate)
                lines.append(
                    f"{label} leaf: verification floor {verified:,.0f}/s in-process; CreateSession {rate:,.0f}/s "
                    f"({args.connections} connections); time per CreateSession / "
                    f"(verification + GetCallerIdentity) = {ratio:.2f}"
                )
            registration = _cli(data_dir, "workloads", "register", "--role", "bench")
            token_file = Path(tmp) / "bootstrap"
            token_file.write_text(str(registration["BootstrapToken"]))
            state = Path(tmp) / "agent"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "iamd",
                    "agent",
                    "enroll",
                    "--endpoint",
                    url,
                    "--bootstrap-token-file",
                    str(token_file),
                    "--state-dir",
                    str(state),
                ],
                check=True,
                capture_output=True,
            )
            imds_port = free_port()
            agent = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "iamd",
                    "agent",
                    "run",
                    "--state-dir",
                    str(state),
                    "--imds",
                    f"127.0.0.1:{imds_port}",
                ],
                stderr=subprocess.DEVNULL,
            )
            token = ""
            for _ in range(100):
                try:
                    put = urllib.request.Request(
                        f"http://127.0.0.1:{imds_port}/latest/api/token",
                        method="PUT",
                        headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"},
                    )
                    with urllib.request.urlopen(put, timeout=1) as answer:
                        token = answer.read().decode()
                    break
                except OSError:
                    time.sleep(0.1)
            get = (
                f"GET /latest/meta-data/iam/security-credentials/bench HTTP/1.1\r\nHost: 127.0.0.1:{imds_port}\r\n"
                f"X-aws-ec2-metadata-token: {token}\r\n\r\n"
            ).encode()
            agent_rate = load(imds_port, get, args.seconds, args.connections)
            lines.append(f"agent metadata credential requests: {agent_rate:,.0f}/s ({args.connections} connections)")
        finally:
            if agent is not None:
                agent.terminate()
                agent.wait()
            proc.terminate()
            proc.wait()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
