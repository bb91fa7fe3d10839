"""Roles Anywhere's CreateSession (``POST /sessions``, X.509-signed) as iamd serves it.

REST-JSON like AWS: the answer is 201 with ``credentialSet`` and ``subjectArn``; errors are
``{"message": ...}`` with the code in ``x-amzn-ErrorType`` (403 ``AccessDeniedException``, 400
``ValidationException``). The request's body may be ``application/json`` (AWS's signing helper, ARNs in
the query) or ``application/x-amz-json-1.0`` (``iam-rolesanywhere-session``, ARNs in the body).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from iamd.auth.x509 import X509AuthError
from iamd.core import ids
from iamd.core.errors import AwsError
from iamd.core.http import HttpRequest
from iamd.services import rolesanywhere
from iamd.services.runtime import Runtime
from iamd.web.workloads import json_answer, json_object

log = logging.getLogger("iamd.rolesanywhere")

PATH = "/sessions"

Response = tuple[int, list[tuple[bytes, bytes]], bytes]


def _error(status: int, code: str, message: str, request_id: str) -> Response:
    return json_answer(status, {"message": message}, request_id, code)


class CreateSessionHandler:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.cache = rolesanywhere.ConfigCache()
        runtime.watcher.subscribe(self.cache.clear)

    def handle(self, request: HttpRequest) -> Response:
        request_id = ids.request_id()
        if request.method != "POST":
            return _error(405, "MethodNotAllowedException", "Use POST /sessions.", request_id)
        try:
            query = dict(parse_qsl(request.query_string, keep_blank_values=True))
            body = json_object(request.body, rolesanywhere.ValidationException)
            self.runtime.watcher.refresh_if_due()  # admin changes from other nodes and the CLI
            with self.runtime.db.read() as conn:
                result = rolesanywhere.create_session(conn, self.runtime.services, self.cache, request, query, body)
            return json_answer(201, result, request_id)
        except X509AuthError as error:
            return _error(error.status, error.aws_code, error.message, request_id)
        except AwsError as error:
            return _error(error.status, error.code, error.message, request_id)
        except Exception:
            log.exception("unhandled error in CreateSession %s", request_id)
            return _error(500, "InternalServerException", "Internal failure.", request_id)
