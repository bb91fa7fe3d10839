"""iamd against moto_server, side by side, in one run on this machine (issue 18).

    python3 -m pip install -c constraints.txt -e '.[bench]'     # moto[server], bench-only
    python3 bench/compare.py [--seconds 5] [--connections 8] [--rounds 2] [--ops GetUser,AssumeRole]

Both servers run one worker on loopback and get the same data through boto3: 1,000 users, a caller
user with an access key and AdministratorAccess, and a role that trusts the account.  Every request
is SigV4-signed by botocore ahead of the timed window (a signature stays valid for 15 minutes, and
replaying a signed request is what AWS accepts) and sent over keep-alive connections by a small
asyncio client in this process, so the figure is the server's and the client's CPU is printed
beside it.  Operations that must not repeat (CreateUser) get one distinct signed request each.
Targets alternate (iamd, moto, iamd, moto, ...) so that a change in the machine's load hits both.

Prints, per operation and target: requests/s, p50 and p99 latency, client CPU share; and the
iamd/moto ratio.  The last line is the same as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from tests.support.server import ACCOUNT_ID, ROOT_KEY, ROOT_SECRET, free_port  # noqa: E402

USERS = 1_000
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
)


@dataclass
class Target:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    key: str = ""
    secret: str = ""

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def client(self, service: str, key: str = ROOT_KEY, secret: str = ROOT_SECRET) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}),
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], probe: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + probe, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{url} did not become ready")


def start_iamd(data_dir: Path, log: Path) -> Target:
    port = free_port()
    env = {
        **os.environ,
        "IAMD_LOG_LEVEL": "warning",
        "IAMD_ACCOUNT_ID": ACCOUNT_ID,
        "IAMD_ROOT_ACCESS_KEY_ID": ROOT_KEY,
        "IAMD_ROOT_SECRET_ACCESS_KEY": ROOT_SECRET,
        # AWS's 5,000-user quota would stop the CreateUser run; moto has none.
        "IAMD_QUOTA_USERS": "10000000",
    }
    args = [sys.executable, "-m", "iamd", "serve", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--data-dir", str(data_dir), "--workers", "1"]
    proc = subprocess.Popen(args, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url, proc, "/healthz")
    return Target("iamd", url, proc)


def start_moto(moto_server: str, log: Path) -> Target:
    port = free_port()
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}  # AdministratorAccess for the caller
    proc = subprocess.Popen(
        [moto_server, "-H", "127.0.0.1", "-p", str(port)], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url, proc, "/moto-api/")
    return Target("moto", url, proc)


def populate(target: Target) -> None:
    """The same data on both: users, a caller with a key and admin rights, a role it may assume."""
    iam = target.client("iam")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: iam.create_user(UserName=f"user{i:05d}"), range(USERS)))
    iam.create_user(UserName="bench-caller")
    iam.attach_user_policy(UserName="bench-caller", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    key = iam.create_access_key(UserName="bench-caller")["AccessKey"]
    target.key, target.secret = key["AccessKeyId"], key["SecretAccessKey"]
    iam.create_role(RoleName="bench-role", AssumeRolePolicyDocument=TRUST)
    iam.create_policy(PolicyName="bench-policy", PolicyDocument=json.dumps(_READ_ONLY))
    # Check the caller's key works before timing anything.
    target.client("sts", target.key, target.secret).get_caller_identity()


_READ_ONLY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}]}


def signed(target: Target, service: str, body: str) -> bytes:
    """One request as bytes on the wire, signed with the caller's key."""
    req = AWSRequest(
        method="POST",
        url=target.url + "/",
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(target.key, target.secret), service, "us-east-1").add_auth(req)
    host = target.url.split("://", 1)[1]
    lines = ["POST / HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


IAM = "Version=2010-05-08&Action="
STS = "Version=2011-06-15&Action="
PolicyArn = f"arn%3Aaws%3Aiam%3A%3A{ACCOUNT_ID}%3Apolicy%2Fbench-policy"


@dataclass(frozen=True)
class Operation:
    name: str
    service: str
    body: Callable[[int], str]
    """The request body; the argument numbers requests for operations that must not repeat."""
    repeats: bool = True


OPERATIONS = [
    Operation("GetUser", "iam", lambda _: IAM + "GetUser&UserName=user00042"),
    Operation("GetCallerIdentity", "sts", lambda _: STS + "GetCallerIdentity"),
    Operation(
        "AssumeRole",
        "sts",
        lambda _: STS + f"AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A{ACCOUNT_ID}%3Arole%2Fbench-role&RoleSessionName=b",
    ),
    Operation("ListUsers", "iam", lambda _: IAM + "ListUsers&MaxItems=100"),
    Operation("CreateUser", "iam", lambda n: IAM + f"CreateUser&UserName=new{n:07d}", repeats=False),
    Operation("AttachUserPolicy", "iam", lambda _: IAM + f"AttachUserPolicy&UserName=user00007&PolicyArn={PolicyArn}"),
]


@dataclass
class Run:
    requests: int
    seconds: float
    latencies: list[float]
    client_cpu: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


async def _connection(port: int, next_payload: Callable[[], bytes | None], stop_at: float, run: Run) -> None:
    """Send one request at a time; reconnect when the server closes (moto_server answers
    `Connection: close` to every request, so its figures include a TCP connect each)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            payload = next_payload()
            if payload is None:
                return
            sent = time.perf_counter()
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                body = await reader.read(2000)
                raise RuntimeError((head + body).decode(errors="replace"))
            length, close = 0, False
            for line in head.lower().split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
                elif line.startswith(b"connection:") and b"close" in line:
                    close = True
            await reader.readexactly(length)
            run.latencies.append(time.perf_counter() - sent)
            run.requests += 1
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


def measure(target: Target, op: Operation, seconds: float, connections: int, offset: int) -> Run:
    if op.repeats:
        one = signed(target, op.service, op.body(0))

        def next_payload() -> bytes | None:
            return one

    else:
        # Enough distinct signed requests for any rate either server reaches here.
        pool = [signed(target, op.service, op.body(offset + i)) for i in range(int(4000 * seconds))]
        pool.reverse()

        def next_payload() -> bytes | None:
            return pool.pop() if pool else None

    run = Run(0, 0.0, [], 0.0)

    async def go() -> None:
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(*(_connection(target.port, next_payload, stop_at, run) for _ in range(connections)))

    cpu0, wall0 = time.process_time(), time.perf_counter()
    asyncio.run(go())
    run.seconds = time.perf_counter() - wall0
    run.client_cpu = (time.process_time() - cpu0) / run.seconds
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="alternations per operation and target")
    parser.add_argument("--ops", default=",".join(op.name for op in OPERATIONS))
    parser.add_argument("--moto-server", default=shutil.which("moto_server") or "moto_server")
    args = parser.parse_args()
    chosen = [op for op in OPERATIONS if op.name in args.ops.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        targets = [start_iamd(work / "iamd", work / "iamd.log"), start_moto(args.moto_server, work / "moto.log")]
        try:
            for target in targets:
                progress(f"populating {target.name}")
                populate(target)
            results: dict[str, dict[str, Run]] = {}
            offset = 0
            for op in chosen:
                for target in targets:  # warm-up, not counted
                    measure(target, op, 0.5, args.connections, offset)
                    offset += 10_000_000
                runs: dict[str, list[Run]] = {t.name: [] for t in targets}
                for _ in range(args.rounds):
                    for target in targets:
                        progress(f"{op.name} on {target.name}")
                        runs[target.name].append(measure(target, op, args.seconds, args.connections, offset))
                        offset += 10_000_000
                results[op.name] = {name: _merge(rs) for name, rs in runs.items()}
        finally:
            for target in targets:
                target.stop()
    report(results, args)


def progress(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _merge(runs: list[Run]) -> Run:
    return Run(
        sum(r.requests for r in runs),
        sum(r.seconds for r in runs),
        [x for r in runs for x in r.latencies],
        statistics.fmean(r.client_cpu for r in runs),
    )


def report(results: dict[str, dict[str, Run]], args: argparse.Namespace) -> None:
    print(f"one worker each, {args.connections} keep-alive connections, {args.rounds}x{args.seconds:g} s per target")
    header = f"{'operation':20s} {'target':6s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'client CPU':>10s}"
    print(header)
    summary: dict[str, Any] = {}
    for op, by_target in results.items():
        for name, run in by_target.items():
            p50, p99 = run.percentile(0.5), run.percentile(0.99)
            print(f"{op:20s} {name:6s} {run.rate:8.0f} {p50:8.2f} {p99:8.2f} {run.client_cpu:9.0%}")
            summary.setdefault(op, {})[name] = {"rps": round(run.rate), "p50_ms": round(p50, 2)}
        ratio = by_target["iamd"].rate / by_target["moto"].rate
        summary[op]["ratio"] = round(ratio, 1)
        print(f"{op:20s} {'ratio':6s} {ratio:7.1f}x")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
