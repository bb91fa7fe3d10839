"""Shared by the authorization API and forward-auth tests: principals, and requests signed for a resource server."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from iamd.client import RequestParts

APP_REGION = "eu-west-1"


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def user_with_key(iam: Any, name: str, *statements: dict[str, Any], boundary: str | None = None) -> tuple[str, str]:
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy(*statements))
    if boundary is not None:
        iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=boundary)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def service_identity(iam: Any, account_id: str, name: str = "docs-service") -> tuple[str, str]:
    """A service allowed to ask iamd about myapp resources of its account."""
    return user_with_key(
        iam,
        name,
        {"Effect": "Allow", "Action": "iamd:Authorize", "Resource": f"arn:aws:myapp:*:{account_id}:*"},
    )


def signed_request(
    url: str,
    key: str,
    secret: str,
    *,
    method: str = "GET",
    body: bytes = b"",
    token: str | None = None,
    when: dt.datetime | None = None,
    presign_expires: int | None = None,
    headers: dict[str, str] | None = None,
    service: str = "myapp",
) -> AWSRequest:
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    credentials = Credentials(key, secret, token)
    signer: SigV4Auth
    if presign_expires is not None:
        signer = SigV4QueryAuth(credentials, service, APP_REGION, expires=presign_expires)
    else:
        signer = SigV4Auth(credentials, service, APP_REGION)
    if when is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
            signer.add_auth(request)
    return request


def parts_of(request: AWSRequest, body: bytes = b"", source_ip: str = "203.0.113.9") -> RequestParts:
    """What the resource server received from the client that signed ``request``."""
    split = urlsplit(request.url)
    headers = [("host", split.netloc), *((k.lower(), v) for k, v in request.headers.items())]
    return RequestParts.from_body(request.method, split.path, split.query, headers, body, source_ip=source_ip)


def assume(iamd: Any, iam: Any, role: str, permissions: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """Credentials of a session of a new role (assumed by a user of the account: root may not assume roles)."""
    account = iamd.account_id
    trust = policy(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}
    )
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=policy(permissions))
    key, secret = user_with_key(
        iam, f"assumer-{role}", {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}
    )
    sts = iamd.client("sts", access_key_id=key, secret_access_key=secret)
    credentials: dict[str, Any] = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", **kw)["Credentials"]
    return credentials
