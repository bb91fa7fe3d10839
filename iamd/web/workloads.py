"""The workload endpoints the agent calls (``/_iamd/workloads/...``, JSON in and out).

* ``POST /_iamd/workloads/enroll`` ``{"bootstrapToken", "csr"}``: the workload's client certificate;
* ``POST /_iamd/workloads/credentials`` ``{"durationSeconds"?, "imdsV1Allowed"?}`` and
  ``POST /_iamd/workloads/renew`` ``{"csr"}``: signed with the workload's certificate
  (``AWS4-X509-ECDSA-SHA256``, credential scope service ``iamd-workload``).

Errors are ``{"code", "message"}`` with AWS's status (403 ``AccessDenied`` for anything that must get
no credentials, 400 ``ValidationError`` for a malformed request) and ``x-amzn-ErrorType``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.engine import Connection

from iamd.auth.x509 import X509AuthError
from iamd.core import ids
from iamd.core.errors import AwsError, ValidationError
from iamd.core.http import HttpRequest
from iamd.services import workloads
from iamd.services.context import NodeServices
from iamd.services.runtime import Runtime

log = logging.getLogger("iamd.workloads")

PREFIX = "/_iamd/workloads/"
MAX_BODY = 64 * 1024

Response = tuple[int, list[tuple[bytes, bytes]], bytes]
_Handler = Callable[[Connection, NodeServices, HttpRequest, Mapping[str, Any]], dict[str, Any]]

_ROUTES: dict[str, _Handler] = {
    "enroll": lambda conn, node, request, document: workloads.enroll(conn, node, document),
    "credentials": workloads.credentials,
    "renew": workloads.renew,
}


def json_answer(status: int, document: Mapping[str, Any], request_id: str, error_code: str | None = None) -> Response:
    body = json.dumps(document).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"x-amzn-requestid", request_id.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if error_code is not None:
        headers.append((b"x-amzn-errortype", error_code.encode()))
    return status, headers, body


class WorkloadsHandler:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def handle(self, request: HttpRequest) -> Response:
        request_id = ids.request_id()
        route = _ROUTES.get(request.path.split("?", 1)[0][len(PREFIX) :])
        if route is None:
            return _error(404, "NotFound", f"No workload endpoint at {request.path}.", request_id)
        if request.method != "POST":
            return _error(405, "MethodNotAllowed", "Use POST.", request_id)
        try:
            document = json_object(request.body)
            with self.runtime.db.side_write() as conn:
                result = route(conn, self.runtime.services, request, document)
            return json_answer(200, result, request_id)
        except X509AuthError as error:
            return _error(error.status, error.aws_code, error.message, request_id)
        except AwsError as error:
            return _error(error.status, error.code, error.message, request_id)
        except Exception:
            log.exception("unhandled error in workload request %s", request_id)
            return _error(500, "InternalFailure", "Internal failure.", request_id)


def _error(status: int, code: str, message: str, request_id: str) -> Response:
    return json_answer(status, {"code": code, "message": message}, request_id, code)


def json_object(body: bytes, invalid: type[AwsError] = ValidationError) -> Mapping[str, Any]:
    """The JSON object of a request body ({} when empty); ``invalid`` for anything else."""
    if len(body) > MAX_BODY:
        raise invalid("The request body is too large.")
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except ValueError:
        raise invalid("The request body is not JSON.") from None
    if not isinstance(document, dict):
        raise invalid("The request body must be a JSON object.")
    return document
