"""STS throughput against one iamd worker (SQLite).

    python bench/bench_sts.py [--seconds 5] [--connections 16]

Prints AssumeRole requests per second, and GetCallerIdentity requests per second signed with
long-term keys and with temporary credentials (the session token is decrypted and checked on
every request; nothing is read from the database for it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from bench.bench_server import load, populate, start  # noqa: E402
from tests.support.server import ACCOUNT_ID, ROOT_KEY, ROOT_SECRET  # noqa: E402


def presign(url: str, body: str, key: str, secret: str, token: str | None = None) -> bytes:
    req = AWSRequest(
        method="POST",
        url=url + "/",
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(key, secret, token), "sts", "us-east-1").add_auth(req)
    host = url.split("://", 1)[1]
    lines = ["POST / HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    results: dict[str, float] = {}
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
            trust = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID}, "Action": "sts:AssumeRole"}],
            }
            iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust))
            iam.attach_role_policy(RoleName="bench", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
            role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/bench"
            # AWS refuses AssumeRole to the root user: an administrator user assumes the role.
            iam.create_user(UserName="bench-admin")
            iam.attach_user_policy(UserName="bench-admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
            admin = iam.create_access_key(UserName="bench-admin")["AccessKey"]
            sts = boto3.client(
                "sts",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id=admin["AccessKeyId"],
                aws_secret_access_key=admin["SecretAccessKey"],
            )
            creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="bench")["Credentials"]
            assume = presign(
                url,
                f"Action=AssumeRole&Version=2011-06-15&RoleArn={role_arn}&RoleSessionName=bench-load",
                admin["AccessKeyId"],
                admin["SecretAccessKey"],
            )
            ident_long = presign(url, "Action=GetCallerIdentity&Version=2011-06-15", ROOT_KEY, ROOT_SECRET)
            ident_temp = presign(
                url,
                "Action=GetCallerIdentity&Version=2011-06-15",
                creds["AccessKeyId"],
                creds["SecretAccessKey"],
                creds["SessionToken"],
            )
            load(port, ident_long, 1.0, args.connections)  # warm-up
            results["AssumeRole req/s"] = load(port, assume, args.seconds, args.connections)
            results["GetCallerIdentity long-term req/s"] = load(port, ident_long, args.seconds, args.connections)
            results["GetCallerIdentity temporary req/s"] = load(port, ident_temp, args.seconds, args.connections)
        finally:
            proc.terminate()
            proc.wait()
    for name, value in results.items():
        print(f"{name:40s} {value:10.0f}")
    ratio = results["GetCallerIdentity temporary req/s"] / results["GetCallerIdentity long-term req/s"]
    print(f"{'temporary / long-term':40s} {ratio:10.2f}")
    print(json.dumps({k: round(v) for k, v in results.items()}))


if __name__ == "__main__":
    main()
