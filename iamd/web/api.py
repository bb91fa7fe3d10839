"""The AWS Query API pipeline: parse, authenticate, validate, authorize, dispatch, serialize."""

from __future__ import annotations

import logging

from iamd.core import ids
from iamd.core.errors import (
    AwsError,
    InternalFailure,
    InvalidAction,
    InvalidHttpRequest,
    MissingAuthenticationToken,
    NotImplementedOperation,
    RequestEntityTooLarge,
    SignatureDoesNotMatch,
)
from iamd.core.http import HttpRequest
from iamd.services.callers import resolve_caller
from iamd.services.dispatch import UNSIGNED_CALLER, dispatch, request_context
from iamd.services.runtime import Runtime
from iamd.web import audit_trail
from iamd.web.access_log import AccessRecord
from iamd.web.audit_trail import ApiCall
from iamd.web.protocol.form import MAX_BODY, merge_params, parse_form
from iamd.web.protocol.model import ServiceSpec, load_service
from iamd.web.protocol.query_parser import parse_action, parse_input
from iamd.web.protocol.xml_serializer import serialize_error, serialize_result

log = logging.getLogger("iamd.api")

SERVICES = ("iam", "sts")
UNSIGNED_SERVICE = "sts"
"""The service whose model has operations called without a signature (AssumeRoleWith...)."""

Response = tuple[int, list[tuple[bytes, bytes]], bytes]


class ApiHandler:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.specs: dict[str, ServiceSpec] = {name: load_service(name) for name in SERVICES}

    def handle(self, request: HttpRequest, record: AccessRecord | None = None) -> Response:
        """Answer one API request; ``record`` gathers what the access log says about it."""
        if record is None:
            started = self.runtime.clock.monotonic()
            record = AccessRecord(request.source_ip, request.method, request.path, started=started)
        request_id = record.request_id = ids.request_id()
        seen: list[ServiceSpec] = []
        call = audit_trail.begin(self.runtime, request, request_id)
        try:
            response = _xml(200, self._handle(request, request_id, seen, record, call), request_id)
        except AwsError as err:
            record.error_code = err.code
            call.error = err
            namespace = seen[0].xml_namespace if seen else None
            response = _xml(err.status, serialize_error(err, request_id, xml_namespace=namespace), request_id)
        except Exception:
            log.exception("unhandled error in request %s", request_id)
            failure = call.error = InternalFailure()
            response = _xml(failure.status, serialize_error(failure, request_id), request_id)
        audit_trail.finish(self.runtime, call, response[0])
        return response

    def _handle(
        self, request: HttpRequest, request_id: str, seen: list[ServiceSpec], record: AccessRecord, call: ApiCall
    ) -> bytes:
        rt = self.runtime
        if len(request.body) > MAX_BODY:
            raise RequestEntityTooLarge()
        params = _request_params(request)
        action = record.action = call.action = parse_action(params)
        rt.watcher.refresh_if_due()

        info = call.info = rt.verifier.parse(request, params)
        if info is None:
            return self._unsigned(request, action, params, request_id, seen, record, call)
        service = record.service = call.service = info.service
        if service not in self.specs:
            raise SignatureDoesNotMatch("Credential should be scoped to correct service: 'iam'. ")
        spec = self.specs[service]
        seen.append(spec)

        call.caller = resolve_caller(rt, request, info)
        caller = call.caller.principal

        record.principal = caller.arn
        if action not in spec.operations:
            raise InvalidAction(f"Could not find operation {action} for version {spec.api_version}")
        if (service, action) not in rt.operations:
            raise NotImplementedOperation(f"iamd does not implement {service}:{action} yet")
        call.known_operation = True
        inputs = call.inputs = parse_input(spec, action, params)
        record.dispatched = True
        result = call.result = dispatch(
            rt,
            service,
            action,
            caller,
            inputs,
            request_context(request, info.region),
            region=info.region,
            source_ip=request.source_ip,
            request_id=request_id,
        )
        if not info.access_key_id.startswith("ASIA"):
            rt.key_usage.record(info.access_key_id, rt.clock.time(), service, info.region)
        return serialize_result(spec, action, dict(result) if result else None, request_id)

    def _unsigned(
        self,
        request: HttpRequest,
        action: str,
        params: dict[str, str],
        request_id: str,
        seen: list[ServiceSpec],
        record: AccessRecord,
        call: ApiCall,
    ) -> bytes:
        """A request without a signature: only operations declared ``unsigned`` are served."""
        rt, spec = self.runtime, self.specs[UNSIGNED_SERVICE]
        model_op = spec.operations.get(action)
        if model_op is None or not model_op.unsigned:
            raise MissingAuthenticationToken()
        operation = rt.operations.get((UNSIGNED_SERVICE, action))
        if operation is None or not operation.unsigned:
            raise NotImplementedOperation(f"iamd does not implement {UNSIGNED_SERVICE}:{action} yet")
        record.service = call.service = UNSIGNED_SERVICE
        seen.append(spec)
        call.known_operation = call.unsigned = True
        inputs = call.inputs = parse_input(spec, action, params)
        record.dispatched = True
        region = rt.settings.identity.region
        result = call.result = dispatch(
            rt,
            UNSIGNED_SERVICE,
            action,
            UNSIGNED_CALLER,
            inputs,
            request_context(request, region),
            region=region,
            source_ip=request.source_ip,
            request_id=request_id,
        )
        return serialize_result(spec, action, dict(result) if result else None, request_id)


def _request_params(request: HttpRequest) -> dict[str, str]:
    if request.method == "POST":
        query_params = parse_form(request.query_string) if request.query_string else {}
        return merge_params(query_params, parse_form(request.body))
    if request.method == "GET":
        return parse_form(request.query_string)
    raise InvalidHttpRequest(f"The HTTP method {request.method} is not supported: use POST or GET.")


def _xml(status: int, body: bytes, request_id: str) -> Response:
    return (
        status,
        [
            (b"content-type", b"text/xml"),
            (b"x-amzn-requestid", request_id.encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        body,
    )
