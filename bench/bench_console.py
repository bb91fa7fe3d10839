"""Web console figures against one iamd worker (SQLite).

    python bench/bench_console.py [--seconds 5] [--connections 16] [--sign-ins 20]

Prints the latency of a password sign-in (argon2id dominates it, by design), and the pages per
second of the signed-in home page (session lookup in the database, identity, template).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
import httpx  # noqa: E402

from bench.bench_server import load, populate, start  # noqa: E402
from tests.support.server import ACCOUNT_ID, ROOT_KEY, ROOT_SECRET  # noqa: E402

PASSWORD = "Bench-Password-1"


def sign_in(url: str) -> tuple[float, httpx.Client]:
    client = httpx.Client(base_url=url)
    page = client.get("/console")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    started = time.perf_counter()
    answer = client.post(
        "/console/signin",
        data={"csrf": csrf.group(1), "kind": "user", "account": ACCOUNT_ID, "username": "bench", "password": PASSWORD},
    )
    elapsed = time.perf_counter() - started
    assert answer.status_code == 303 and answer.headers["location"] == "/console/home", answer.status_code
    return elapsed, client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--sign-ins", type=int, default=20)
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
            iam.create_user(UserName="bench")
            iam.create_login_profile(UserName="bench", Password=PASSWORD)
            timings = []
            client = None
            for _ in range(args.sign_ins):
                elapsed, client = sign_in(url)
                timings.append(elapsed * 1000)
            assert client is not None
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            request = (f"GET /console/home HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n\r\n").encode()
            home_rate = load(port, request, args.seconds, args.connections)
        finally:
            proc.terminate()
            proc.wait()
    print(f"password sign-in: p50 {statistics.median(timings):.1f} ms, max {max(timings):.1f} ms ({len(timings)} runs)")
    print(f"signed-in home page: {home_rate:,.0f} pages/s ({args.connections} connections, {args.seconds:.0f} s)")


if __name__ == "__main__":
    main()
