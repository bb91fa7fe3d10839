"""The AWS API pipeline: parse, authenticate, validate, authorize, dispatch, serialize.

IAM and STS speak the Query protocol (form parameters, XML answers); Organizations speaks AWS JSON
1.1 (``POST /`` with ``X-Amz-Target``; JSON answers and errors).  A request with an ``X-Amz-Target``
header or a JSON content type takes the JSON path; its SigV4 scope's service picks the model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from iamd.auth.sigv4 import SignatureInfo
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
from iamd.core.principal import Principal, PrincipalKind
from iamd.services.callers import Caller, resolve_caller
from iamd.services.dispatch import UNSIGNED_CALLER, dispatch, request_context
from iamd.services.runtime import Runtime
from iamd.services.service_principals import called_via_keys, forwarded_caller, source_keys
from iamd.web import audit_trail
from iamd.web.access_log import AccessRecord
from iamd.web.audit_trail import ApiCall
from iamd.web.protocol.form import MAX_BODY, merge_params, parse_form
from iamd.web.protocol.json_codec import WireResponse
from iamd.web.protocol.json_protocol import (
    JSON_MEDIA_TYPES,
    json_response_headers,
    media_type,
    parse_json_request,
    serialize_json_error,
    serialize_json_result,
)
from iamd.web.protocol.model import ServiceSpec, load_service
from iamd.web.protocol.query_parser import parse_action, parse_input
from iamd.web.protocol.xml_serializer import serialize_error, serialize_result

log = logging.getLogger("iamd.api")

SERVICES = ("iam", "sts")
JSON_SERVICES = ("organizations",)

# The Query protocol's authentication and authorization codes, as AWS JSON services name them.
_JSON_CODES = {
    "AccessDenied": ("AccessDeniedException", 400),
    "IncompleteSignature": ("IncompleteSignatureException", 400),
    "InvalidClientTokenId": ("UnrecognizedClientException", 400),
    "MissingAuthenticationToken": ("MissingAuthenticationTokenException", 403),
    "SignatureDoesNotMatch": ("InvalidSignatureException", 400),
    "ExpiredToken": ("ExpiredTokenException", 400),
}
UNSIGNED_SERVICE = "sts"
"""The service whose model has operations called without a signature (AssumeRoleWith...)."""

Response = tuple[int, list[tuple[bytes, bytes]], bytes]


class ApiHandler:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.specs: dict[str, ServiceSpec] = {name: load_service(name) for name in SERVICES}
        self.json_specs: dict[str, ServiceSpec] = {name: load_service(name) for name in JSON_SERVICES}

    def handle(self, request: HttpRequest, record: AccessRecord | None = None) -> Response:
        """Answer one API request; ``record`` gathers what the access log says about it."""
        if record is None:
            started = self.runtime.clock.monotonic()
            record = AccessRecord(request.source_ip, request.method, request.path, started=started)
        request_id = record.request_id = ids.request_id()
        seen: list[ServiceSpec] = []
        if _is_json(request):
            return _wire(self._handle_json_answer(request, request_id, seen, record))
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

        call.caller = record_caller(rt, request, info, record)
        caller = call.caller.principal
        if action not in spec.operations:
            raise InvalidAction(f"Could not find operation {action} for version {spec.api_version}")
        if (service, action) not in rt.operations:
            raise NotImplementedOperation(f"iamd does not implement {service}:{action} yet")
        call.known_operation = True
        inputs = call.inputs = parse_input(spec, action, params)
        result = call.result = run(rt, request, info, caller, action, inputs, request_id, record)
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

    # -- AWS JSON 1.1 ----------------------------------------------------------------------------------

    def _handle_json_answer(
        self, request: HttpRequest, request_id: str, seen: list[ServiceSpec], record: AccessRecord
    ) -> WireResponse:
        try:
            body = self._handle_json(request, request_id, seen, record)
            spec = seen[0]
            return WireResponse(200, json_response_headers(spec, request_id), body)
        except AwsError as err:
            record.error_code = err.code
            return serialize_json_error(_json_error(err), request_id, seen[0] if seen else None)
        except Exception:
            log.exception("unhandled error in request %s", request_id)
            return serialize_json_error(InternalFailure(), request_id, seen[0] if seen else None)

    def _handle_json(
        self, request: HttpRequest, request_id: str, seen: list[ServiceSpec], record: AccessRecord
    ) -> bytes:
        rt = self.runtime
        if len(request.body) > MAX_BODY:
            raise RequestEntityTooLarge()
        if request.method != "POST":
            raise InvalidHttpRequest(f"The HTTP method {request.method} is not supported: use POST.")
        rt.watcher.refresh_if_due()
        info = rt.verifier.parse(request, None)
        if info is None:
            raise MissingAuthenticationToken()
        service = record.service = info.service
        spec = self.json_specs.get(service)
        if spec is None:
            expected = " or ".join(f"'{name}'" for name in self.json_specs)
            raise SignatureDoesNotMatch(f"Credential should be scoped to correct service: {expected}. ")
        seen.append(spec)
        caller = record_caller(rt, request, info, record).principal
        action, inputs = parse_json_request(
            spec, request.header("x-amz-target"), request.body, content_type=request.header("content-type")
        )
        record.action = action
        if (service, action) not in rt.operations:
            raise NotImplementedOperation(f"iamd does not implement {service}:{action} yet")
        result = run(rt, request, info, caller, action, inputs, request_id, record)
        return serialize_json_result(spec, action, dict(result) if result else None)


def run(
    rt: Runtime,
    request: HttpRequest,
    info: SignatureInfo,
    caller: Principal,
    action: str,
    inputs: dict[str, Any],
    request_id: str,
    record: AccessRecord,
) -> Mapping[str, Any] | None:
    """Dispatch one parsed call and note the access key's use."""
    record.dispatched = True
    context: dict[str, str | Sequence[str]] = {**request_context(request, info.region)}
    if caller.kind is PrincipalKind.SERVICE:  # only a registered service says for whom it acts
        context.update(source_keys(request, info.signed_headers))
    context.update(called_via_keys(caller))
    result = dispatch(
        rt,
        info.service,
        action,
        caller,
        inputs,
        context,
        region=info.region,
        source_ip=request.source_ip,
        request_id=request_id,
    )
    if not info.access_key_id.startswith("ASIA"):
        rt.key_usage.record(info.access_key_id, rt.clock.time(), info.service, info.region)
    return result


def record_caller(rt: Runtime, request: HttpRequest, info: SignatureInfo, record: AccessRecord) -> Caller:
    """Who signed ``request`` (signature verified), noted in the access record; a registered service
    that forwards a user's session acts as that user (a forward access session)."""
    caller = resolve_caller(rt, request, info)
    if caller.principal.kind is PrincipalKind.SERVICE:
        forwarded = forwarded_caller(rt, request, info.signed_headers, caller.principal)
        if forwarded is not None:
            caller = replace(caller, principal=forwarded)
    record.principal = caller.principal.arn
    return caller


def _is_json(request: HttpRequest) -> bool:
    return request.header("x-amz-target") is not None or media_type(request.header("content-type")) in JSON_MEDIA_TYPES


def _json_error(err: AwsError) -> AwsError:
    """``err`` as a JSON service names it (``AccessDenied`` is ``AccessDeniedException`` ...)."""
    renamed = _JSON_CODES.get(err.code)
    if renamed is None:
        return err
    out = AwsError(err.message)
    out.code, out.status, out.sender_fault = renamed[0], renamed[1], True
    return out


def _wire(response: WireResponse) -> Response:
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    return response.status, headers, response.body


def authenticate(rt: Runtime, request: HttpRequest, info: SignatureInfo) -> Principal:
    """The caller whose key signed ``request`` (a session's ``ASIA`` key with its token, or a long-term key);
    the signature is verified."""
    return resolve_caller(rt, request, info).principal


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
