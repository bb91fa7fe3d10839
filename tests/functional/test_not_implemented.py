"""Every operation of the installed botocore models that iamd does not implement answers HTTP 501.

The operations come from botocore's models and iamd's registry, not from a hand-kept list, so an
operation that a newer botocore adds answers ``NotImplemented`` (not ``InvalidAction``) until it is
implemented, and docs/operations-implemented.md lists it as *not yet*.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

from iamd.services.registry import load_all
from iamd.web.protocol.model import load_service
from tests.support.server import Server
from tests.support.signing import signed_post

SERVICES = ("iam", "sts")
# AWS accepts these unsigned; iamd answers them 501 before any signature is asked for (test_sts.py).
UNSIGNED_STS_ACTIONS = frozenset({"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})


def unimplemented() -> list[tuple[str, str]]:
    registered = load_all()
    return [
        (service, name)
        for service in SERVICES
        for name in sorted(load_service(service).operations)
        if (service, name) not in registered
    ]


def test_the_models_hold_operations_iamd_does_not_implement() -> None:
    missing = unimplemented()
    assert ("iam", "GetOrganizationsAccessReport") in missing
    assert all(name in load_service(service).operations for service, name in missing)


def _between(body: str, tag: str) -> str:
    return body.split(f"<{tag}>", 1)[1].split(f"</{tag}>", 1)[0]


def test_every_unimplemented_operation_answers_501(iamd: Server) -> None:
    wrong: list[str] = []
    for service, name in unimplemented():
        body = f"Action={name}&Version={load_service(service).api_version}"
        resp = signed_post(iamd.url, body, iamd.access_key_id, iamd.secret_access_key, service=service)
        got = (resp.status, _between(resp.body, "Code"), _between(resp.body, "Message"))
        if got != (501, "NotImplemented", f"iamd does not implement {service}:{name} yet"):
            wrong.append(f"{service}:{name} -> {got}")
    assert not wrong, wrong


@pytest.mark.parametrize("service", SERVICES)
def test_boto3_gets_not_implemented(iamd: Server, service: str) -> None:
    """Through boto3, for each unimplemented operation that needs no input."""
    spec = load_service(service)
    client: Any = iamd.client(service)
    tried = 0
    for svc, name in unimplemented():
        operation = spec.operations.get(name)
        if svc != service or operation is None or name in UNSIGNED_STS_ACTIONS:
            continue
        if operation.input_shape is not None and spec.compiled(operation.input_shape).required:
            continue
        with pytest.raises(ClientError) as err:
            getattr(client, xform_name(name))()
        response = err.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 501, name
        assert response["Error"]["Code"] == "NotImplemented", name
        assert response["Error"]["Message"] == f"iamd does not implement {service}:{name} yet"
        tried += 1
    assert tried > 0
