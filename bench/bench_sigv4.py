"""In-process SigV4 verification speed: parse + verify of a botocore-signed IAM GetUser POST.

    python bench/bench_sigv4.py [--seconds 2]

The request is what boto3 sends (Content-Type form, User-Agent, X-Amz-Date, Authorization, body
``Action=GetUser&Version=2010-05-08``), decoded as the web layer decodes it.  The signing key cache
is warm, as it is for steady traffic.  Prints verifications per second and microseconds each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from iamd.auth.sigv4 import SigV4Verifier  # noqa: E402
from iamd.core.clock import FixedClock  # noqa: E402
from iamd.core.http import HttpRequest  # noqa: E402

KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
WHEN = dt.datetime(2024, 1, 1, 0, 30, 0, tzinfo=dt.UTC)


def signed_get_user() -> HttpRequest:
    request = AWSRequest(
        method="POST",
        url="https://iam.amazonaws.com/",
        data=b"Action=GetUser&Version=2010-05-08",
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "User-Agent": "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11.7",
            "Content-Length": "33",
            "amz-sdk-invocation-id": "3f1c1d6e-6c39-4ae0-8f37-0b8f7e2d9c11",
            "amz-sdk-request": "attempt=1",
        },
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=WHEN.replace(tzinfo=None)):
        SigV4Auth(Credentials(KEY, SECRET), "iam", "us-east-1").add_auth(request)
    parts = urlsplit(request.url)
    headers = [("host", parts.netloc), ("accept-encoding", "identity")]
    headers += [(name.lower(), str(value)) for name, value in request.headers.items()]
    return HttpRequest(
        method="POST",
        path=parts.path,
        query_string=parts.query,
        headers=tuple(headers),
        body=request.body if isinstance(request.body, bytes) else str(request.body).encode(),
    )


def run(seconds: float) -> tuple[int, float]:
    template = signed_get_user()
    verifier = SigV4Verifier(FixedClock(WHEN + dt.timedelta(seconds=5)))
    # Each HttpRequest caches its header index, so give every round a fresh one, as the server does.
    fields = (template.method, template.path, template.query_string, template.headers, template.body)

    def once() -> None:
        request = HttpRequest(*fields)
        info = verifier.parse(request)
        assert info is not None
        verifier.verify(request, info, SECRET)

    once()  # warm the key cache
    assert verifier.key_derivations == 1
    batch = 1000
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            once()
        done += batch
        now = time.perf_counter()
        if now >= deadline:
            return done, now - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    count, elapsed = run(args.seconds)
    per_second = count / elapsed
    print(f"SigV4 parse+verify (botocore-signed IAM GetUser POST, warm key cache): {count} in {elapsed:.2f} s")
    print(f"  {per_second:,.0f} verifications/s, {1e6 / per_second:.1f} us per verification")


if __name__ == "__main__":
    main()
