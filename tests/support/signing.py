"""Hand-made signed requests, for the protocol edges boto3 would never send."""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.request
from dataclasses import dataclass
from unittest import mock

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


@dataclass
class RawResponse:
    status: int
    body: str
    headers: dict[str, str]


def send(url: str, method: str, body: bytes | None, headers: dict[str, str]) -> RawResponse:
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return RawResponse(resp.status, resp.read().decode(), dict(resp.headers))
    except urllib.error.HTTPError as err:
        return RawResponse(err.code, err.read().decode(), dict(err.headers))


def signed_post(
    base_url: str,
    body: bytes | str,
    key: str,
    secret: str,
    *,
    service: str = "iam",
    when: dt.datetime | None = None,
    token: str | None = None,
) -> RawResponse:
    data = body.encode() if isinstance(body, str) else body
    request = AWSRequest(
        method="POST",
        url=base_url + "/",
        data=data,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    _sign(SigV4Auth(Credentials(key, secret, token), service, "us-east-1"), request, when)
    return send(base_url + "/", "POST", data, dict(request.headers.items()))


def presigned_get(
    base_url: str,
    query: str,
    key: str,
    secret: str,
    *,
    service: str = "iam",
    expires: int = 300,
    when: dt.datetime | None = None,
) -> RawResponse:
    request = AWSRequest(method="GET", url=f"{base_url}/?{query}")
    _sign(SigV4QueryAuth(Credentials(key, secret), service, "us-east-1", expires=expires), request, when)
    return send(request.url, "GET", None, {})


def _sign(signer: SigV4Auth, request: AWSRequest, when: dt.datetime | None) -> None:
    if when is None:
        signer.add_auth(request)
        return
    with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
        signer.add_auth(request)
