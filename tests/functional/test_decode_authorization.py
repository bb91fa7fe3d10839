"""Encoded authorization messages on AccessDenied, decoded by sts:DecodeAuthorizationMessage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.support.server import start_server


def test_encoded_message_round_trip(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "enc", extra_env={"IAMD_ENCODED_AUTHORIZATION_MESSAGES": "1"})
    try:
        iam = srv.client("iam")
        iam.create_user(UserName="u")
        key = iam.create_access_key(UserName="u")["AccessKey"]
        user_iam = srv.client("iam", key["AccessKeyId"], key["SecretAccessKey"])
        with pytest.raises(ClientError) as exc:
            user_iam.create_group(GroupName="g")
        message = exc.value.response["Error"]["Message"]
        assert "Encoded authorization failure message: " in message
        blob = message.split("Encoded authorization failure message: ", 1)[1]
        user_sts = srv.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
        with pytest.raises(ClientError) as exc:
            user_sts.decode_authorization_message(EncodedMessage=blob)  # needs the permission
        assert exc.value.response["Error"]["Code"] == "AccessDenied"
        decoded = json.loads(srv.client("sts").decode_authorization_message(EncodedMessage=blob)["DecodedMessage"])
        assert decoded["allowed"] is False and decoded["explicitDeny"] is False
        assert decoded["context"]["action"] == "iam:CreateGroup"
        assert decoded["context"]["principal"]["arn"].endswith(":user/u")
        assert decoded["context"]["resource"].endswith(":group/g")
        with pytest.raises(ClientError) as exc:
            srv.client("sts").decode_authorization_message(EncodedMessage=blob[:-4] + "AAAA")
        assert exc.value.response["Error"]["Code"] == "InvalidAuthorizationMessageException"
    finally:
        srv.stop()


def test_no_encoded_message_by_default(iamd) -> None:  # type: ignore[no-untyped-def]
    iam = iamd.client("iam")
    iam.create_user(UserName="u")
    key = iam.create_access_key(UserName="u")["AccessKey"]
    with pytest.raises(ClientError) as exc:
        iamd.client("iam", key["AccessKeyId"], key["SecretAccessKey"]).create_group(GroupName="g")
    assert "Encoded authorization failure message" not in exc.value.response["Error"]["Message"]
