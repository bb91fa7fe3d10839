"""botocore's own request serializers and response parsers, as the JSON/REST tests use them.

:func:`wire_request` runs botocore's serializer for the model's protocol, then its request
preparation (URL joining, query string encoding, the prepared request), and hands back what a
server sees: method, raw path, raw query string, headers and body.  :func:`parse_answer` runs
botocore's response parser on a :class:`WireResponse`, adding the modeled error fields as
botocore's endpoint does (``Reason`` ...).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSRequest, prepare_request_dict
from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from urllib3._collections import HTTPHeaderDict

from iamd.web.protocol.json_codec import WireResponse

ENDPOINT = "https://iamd.test"


@dataclass(frozen=True)
class WireRequest:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


@functools.cache
def service_model(service: str) -> ServiceModel:
    return ServiceModel(Loader().load_service_model(service, "service-2"), service_name=service)


def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)


def wire_request(service: str, operation: str, params: dict[str, Any], *, validate: bool = True) -> WireRequest:
    """The request botocore sends for ``operation(**params)`` (``validate=False`` skips botocore's
    client-side parameter validation, to send what a server must refuse)."""
    model = operation_model(service, operation)
    serializer = create_serializer(model.metadata["protocol"], include_validation=validate)
    request_dict = serializer.serialize_to_request(params, model)
    prepare_request_dict(request_dict, endpoint_url=ENDPOINT)
    prepared = AWSRequest(
        method=request_dict["method"],
        url=request_dict["url"],
        data=request_dict["body"],
        headers=request_dict["headers"],
    ).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    raw_body = body if isinstance(body, bytes) else body.encode("utf-8")
    headers = [
        (name.lower(), value if isinstance(value, str) else value.decode()) for name, value in prepared.headers.items()
    ]
    return WireRequest(prepared.method, url.path or "/", url.query, headers, raw_body)


def parse_answer(service: str, operation: str, answer: WireResponse) -> dict[str, Any]:
    model = operation_model(service, operation)
    parser = create_parser(model.metadata["protocol"])
    response = {
        "status_code": answer.status,
        "headers": HTTPHeaderDict(answer.headers),
        "body": answer.body,
    }
    parsed: dict[str, Any] = parser.parse(response, model.output_shape)
    if answer.status >= 300:
        code = parsed.get("Error", {}).get("Code")
        error_shape = service_model(service).shape_for_error_code(code) if code else None
        if error_shape is not None:
            parsed.update(parser.parse(response, error_shape))
    return parsed
