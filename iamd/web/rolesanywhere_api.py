"""Roles Anywhere's control plane over REST-JSON: every operation of botocore's ``rolesanywhere`` model.

Requests are routed by method and path (``web/protocol/rest_router``), signed with SigV4 for the service
``rolesanywhere`` and authenticated like every API call (long-term keys, sessions), then dispatched to
the operations declared in iamd.services.rolesanywhere_ops, which say what each is authorized against.
The resources are the caller's account's, in the region of the signature's credential scope.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from iamd.core import ids
from iamd.core.errors import (
    AccessDenied,
    AwsError,
    InternalFailure,
    MissingAuthenticationToken,
    SignatureDoesNotMatch,
)
from iamd.core.http import HttpRequest
from iamd.services import rolesanywhere as ra
from iamd.services.dispatch import dispatch, request_context
from iamd.services.runtime import Runtime
from iamd.web.api import authenticate
from iamd.web.protocol.model import load_service
from iamd.web.protocol.rest_json import parse_rest_request, serialize_rest_error, serialize_rest_result
from iamd.web.protocol.rest_router import RestRouter

log = logging.getLogger("iamd.rolesanywhere")

SERVICE = "rolesanywhere"
Response = tuple[int, list[tuple[bytes, bytes]], bytes]


class RolesAnywhereApi:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.spec = load_service(SERVICE)
        self.router = RestRouter(self.spec)
        self._first_segments = {
            op.request_uri.lstrip("/").split("/", 1)[0].split("?", 1)[0] for op in self.spec.operations.values()
        }

    def serves(self, path: str) -> bool:
        """Whether ``path`` is one of the control plane's (``/trustanchors``, ``/profile/ID``...)."""
        return path.lstrip("/").split("/", 1)[0] in self._first_segments

    def handle(self, request: HttpRequest) -> Response:
        request_id = ids.request_id()
        try:
            status, headers, body = serialize_rest_result(
                self.spec, *self._handle(request, request_id), request_id=request_id
            )
        except AwsError as error:
            status, headers, body = serialize_rest_error(error, request_id, self.spec)
        except Exception:
            log.exception("unhandled error in Roles Anywhere request %s", request_id)
            status, headers, body = serialize_rest_error(InternalFailure(), request_id, self.spec)
        encoded = [(name.lower().encode(), value.encode()) for name, value in headers]
        encoded.append((b"content-length", str(len(body)).encode()))
        return status, encoded, body

    def _handle(self, request: HttpRequest, request_id: str) -> tuple[str, Mapping[str, Any] | None]:
        rt = self.runtime
        operation, labels = self.router.match(request.method, request.path.split("?", 1)[0], request.query_string)
        rt.watcher.refresh_if_due()
        info = rt.verifier.parse(request)
        if info is None:
            raise MissingAuthenticationToken()
        if info.service != SERVICE:
            raise SignatureDoesNotMatch(f"Credential should be scoped to correct service: '{SERVICE}'. ")
        caller = authenticate(rt, request, info)
        inputs = parse_rest_request(self.spec, operation, labels, request.query_string, request.headers, request.body)
        try:
            result = dispatch(
                rt,
                SERVICE,
                operation,
                caller,
                inputs,
                request_context(request, info.region),
                region=info.region,
                source_ip=request.source_ip,
                request_id=request_id,
            )
        except AccessDenied as denied:  # the registry's authorizer speaks IAM; this service says it its way
            raise ra.AccessDeniedException(denied.message) from None
        return operation, result
