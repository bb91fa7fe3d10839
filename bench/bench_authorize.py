"""The authorization API on one worker with warm caches (SQLite).

    python bench/bench_authorize.py [--calls 5000] [--seconds 5] [--threads 4]

Two figures:

* **server-side**: the handler of ``POST /v1/authorize`` called in-process on a node over the
  same store (the calling service's signature checked, ``iamd:Authorize`` decided, the forwarded
  request's signature checked, the decision, the answer serialized, the audit record queued),
  timed around each call: calls per second on one thread, p50 and p99;
* **over HTTP**: ``iamd.client`` against ``iamd serve --workers 1`` from a few threads, calls per
  second, and the server's own ``iamd_authorize_duration_seconds`` mean from ``/metrics``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from bench.bench_server import populate, start  # noqa: E402
from iamd.client import AuthorizeClient, RequestParts  # noqa: E402
from tests.support.server import ACCOUNT_ID, ROOT_KEY, ROOT_SECRET  # noqa: E402

RESOURCE = f"arn:aws:myapp:eu-west-1:{ACCOUNT_ID}:document/42"


def _user(iam: object, name: str, statement: dict[str, object]) -> tuple[str, str]:
    iam.create_user(UserName=name)  # type: ignore[attr-defined]
    doc = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc)  # type: ignore[attr-defined]
    key = iam.create_access_key(UserName=name)["AccessKey"]  # type: ignore[attr-defined]
    return key["AccessKeyId"], key["SecretAccessKey"]


def _forwarded(key: str, secret: str) -> RequestParts:
    req = AWSRequest(method="GET", url="https://docs.example/documents/42")
    SigV4Auth(Credentials(key, secret), "myapp", "eu-west-1").add_auth(req)
    headers = [("host", "docs.example"), *((k.lower(), v) for k, v in req.headers.items())]
    return RequestParts.from_body("GET", "/documents/42", "", headers, b"", source_ip="203.0.113.9")


def _signed_call(url: str, key: str, secret: str, body: bytes) -> object:
    from iamd.core.http import HttpRequest

    req = AWSRequest(method="POST", url=url + "/v1/authorize", data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret), "iamd", "us-east-1").add_auth(req)
    host = urlsplit(url).netloc
    headers = (("host", host), *((k.lower(), v) for k, v in req.headers.items()))
    return HttpRequest("POST", "/v1/authorize", "", headers, body, source_ip="127.0.0.1")


def server_side(
    data_dir: Path, url: str, service: tuple[str, str], body: bytes, calls: int, *, audit: bool = True
) -> dict[str, float]:
    from iamd.core.config import AuditSettings, Settings, StoreSettings
    from iamd.services.runtime import Runtime
    from iamd.web.authorize import AuthorizeHandler

    rt = Runtime(Settings(store=StoreSettings(data_dir=data_dir), audit=AuditSettings(enabled=audit)))
    rt.audit.start()
    handler = AuthorizeHandler(rt)
    request = _signed_call(url, *service, body)
    for _ in range(200):  # warm every cache
        status, _, answer = handler.authorize(request)  # type: ignore[arg-type]
        assert status == 200 and json.loads(answer)["decision"] == "Allow", answer
    times: list[float] = []
    begun = time.perf_counter()
    for _ in range(calls):
        started = time.perf_counter()
        handler.authorize(request)  # type: ignore[arg-type]
        times.append(time.perf_counter() - started)
    total = time.perf_counter() - begun
    rt.close()
    times.sort()
    return {
        "calls_per_second": calls / total,
        "p50_ms": statistics.median(times) * 1000,
        "p99_ms": times[int(len(times) * 0.99) - 1] * 1000,
    }


def over_http(
    url: str, service: tuple[str, str], parts: RequestParts, seconds: float, threads: int
) -> dict[str, float]:
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def run(index: int) -> None:
        client = AuthorizeClient(url, access_key_id=service[0], secret_access_key=service[1])
        while time.perf_counter() < deadline:
            assert client.authorize(parts, "myapp:GetDocument", RESOURCE).allowed
            counts[index] += 1

    begun = time.perf_counter()
    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - begun
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith('iamd_authorize_duration_seconds_sum{source="authorize"}'):
            total = float(line.rsplit(" ", 1)[1])
        if line.startswith('iamd_authorize_duration_seconds_count{source="authorize"}'):
            count = float(line.rsplit(" ", 1)[1])
    return {"calls_per_second": sum(counts) / elapsed, "server_mean_ms": total / count * 1000 if count else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        populate(data_dir, 0, 0)
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
            service = _user(
                iam, "docs-service", {"Effect": "Allow", "Action": "iamd:Authorize", "Resource": "arn:aws:myapp:*"}
            )
            alice = _user(iam, "alice", {"Effect": "Allow", "Action": "myapp:GetDocument", "Resource": "*"})
            parts = _forwarded(*alice)
            body = json.dumps(
                {"request": parts.as_json(), "action": "myapp:GetDocument", "resource": RESOURCE},
                separators=(",", ":"),
            ).encode()
            http = over_http(url, service, parts, args.seconds, args.threads)
            inside = server_side(data_dir, url, service, body, args.calls)
            quiet = server_side(data_dir, url, service, body, args.calls, audit=False)
        finally:
            proc.terminate()
            proc.wait()
    print(
        f"server-side (one thread, warm caches): {inside['calls_per_second']:.0f} calls/s, "
        f"p50 {inside['p50_ms']:.3f} ms, p99 {inside['p99_ms']:.3f} ms"
    )
    print(
        f"server-side without the audit trail: {quiet['calls_per_second']:.0f} calls/s, "
        f"p50 {quiet['p50_ms']:.3f} ms, p99 {quiet['p99_ms']:.3f} ms"
    )
    print(
        f"over HTTP ({args.threads} client threads, one worker): {http['calls_per_second']:.0f} calls/s, "
        f"server mean {http['server_mean_ms']:.3f} ms"
    )


if __name__ == "__main__":
    main()
