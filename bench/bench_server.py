"""Signed requests per second against one iamd worker (SQLite, the embedded default).

    python bench/bench_server.py [--seconds 5] [--connections 16]

Prints requests/s for GetUser, and for ListUsers (a page of 100) among 10,000 users and then
among 100,000 users.  The client pre-signs each request once (a SigV4 signature stays valid for
15 minutes) and replays its bytes over keep-alive connections from another process, so the
figure is the server's, not the client's signing cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from tests.support.server import ACCOUNT_ID, ROOT_KEY, ROOT_SECRET, free_port  # noqa: E402


def populate(data_dir: Path, total: int, start: int) -> None:
    """Insert users straight into the store (the API's 5,000-user quota is for API callers)."""
    from iamd.core import ids
    from iamd.core.config import IdentitySettings, Settings, StoreSettings
    from iamd.services.runtime import Runtime
    from iamd.store import tables as t

    settings = Settings(
        store=StoreSettings(data_dir=data_dir),
        identity=IdentitySettings(
            bootstrap_account_id=ACCOUNT_ID,
            bootstrap_root_access_key_id=ROOT_KEY,
            bootstrap_root_secret_access_key=ROOT_SECRET,
        ),
    )
    rt = Runtime(settings)
    rt.prepare_store()
    rt.bootstrap()
    now = time.time()
    batch = []
    for i in range(start, total):
        name = f"user{i:07d}"
        batch.append(
            {
                "id": ids.unique_id(ids.USER_PREFIX),
                "account_id": ACCOUNT_ID,
                "name": name,
                "name_key": name,
                "path": "/",
                "created_at": now,
            }
        )
        if len(batch) == 5000:
            with rt.db.write() as conn:
                conn.execute(t.users.insert(), batch)
            batch = []
    if batch:
        with rt.db.write() as conn:
            conn.execute(t.users.insert(), batch)
    rt.close()


def presign(url: str, body: str, service: str = "iam") -> bytes:
    req = AWSRequest(
        method="POST",
        url=url + "/",
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(ROOT_KEY, ROOT_SECRET), service, "us-east-1").add_auth(req)
    host = url.split("://", 1)[1]
    lines = ["POST / HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


async def _worker(port: int, payload: bytes, stop_at: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    while time.perf_counter() < stop_at:
        writer.write(payload)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode(errors="replace"))
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        done += 1
    counts.append(done)
    writer.close()


def load(port: int, payload: bytes, seconds: float, connections: int) -> float:
    async def run() -> float:
        counts: list[int] = []
        start = time.perf_counter()
        await asyncio.gather(*(_worker(port, payload, start + seconds, counts) for _ in range(connections)))
        return sum(counts) / (time.perf_counter() - start)

    return asyncio.run(run())


def start(data_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, "IAMD_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "iamd", "serve", "--port", str(port), "--data-dir", str(data_dir), "--workers", "1"],
        env=env,
    )
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        populate(data_dir, 10_000, 0)
        for users in (10_000, 100_000):
            if users == 100_000:
                populate(data_dir, 100_000, 10_000)
            proc, port = start(data_dir)
            url = f"http://127.0.0.1:{port}"
            try:
                get_user = presign(url, "Action=GetUser&Version=2010-05-08&UserName=user0004242")
                middle = f"user{users // 2:07d}"
                from iamd.services.iam.common import encode_marker

                list_page = presign(
                    url, f"Action=ListUsers&Version=2010-05-08&MaxItems=100&Marker={encode_marker(middle)}"
                )
                load(port, get_user, 1.0, args.connections)  # warm-up
                if users == 10_000:
                    results["GetUser req/s"] = load(port, get_user, args.seconds, args.connections)
                results[f"ListUsers (100 of {users:,}) req/s"] = load(port, list_page, args.seconds, args.connections)
            finally:
                proc.terminate()
                proc.wait()
    ratio = results["ListUsers (100 of 10,000) req/s"] / results["ListUsers (100 of 100,000) req/s"]
    for name, value in results.items():
        print(f"{name:40s} {value:10.0f}")
    print(f"{'ListUsers cost ratio 100k/10k':40s} {ratio:10.2f}")
    print(json.dumps({k: round(v) for k, v in results.items()}))


if __name__ == "__main__":
    main()
