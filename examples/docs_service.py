"""A tiny document service that accepts AWS-signed requests and obeys IAM policies, by asking iamd.

    IAMD_URL=http://127.0.0.1:8080 IAMD_SERVICE_KEY=AKIA... IAMD_SERVICE_SECRET=... \
        python examples/docs_service.py --port 9000

The service's own iamd identity needs ``iamd:Authorize`` on its resources::

    {"Effect": "Allow", "Action": "iamd:Authorize", "Resource": "arn:aws:docs:*:123456789012:*"}

Clients sign their requests as for any AWS service (service ``docs``), e.g. with botocore::

    req = AWSRequest("PUT", "http://127.0.0.1:9000/documents/plan", data=b"...")
    SigV4Auth(credentials, "docs", "eu-west-1").add_auth(req)

Each handler asks iamd whether the signer may do its action on the document
(``docs:GetDocument``, ``docs:PutDocument``, ``docs:DeleteDocument``, ``docs:ListDocuments``), with
the document's tags (``aws:ResourceTag/owner``) and an extra condition key
(``docs:ContentLength``); the answer's principal says who is calling.  401 when the request is not
signed properly, 403 with iamd's explanation when a policy says no.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from iamd.client import AuthorizeClient, AuthorizeResult, RequestParts

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


class DocsService:
    """WSGI application: documents in memory, every request decided by iamd."""

    def __init__(self, iamd: AuthorizeClient, account_id: str, region: str = "eu-west-1") -> None:
        self.iamd = iamd
        self.account_id = account_id
        self.region = region
        self.documents: dict[str, tuple[bytes, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def arn(self, name: str = "*") -> str:
        return f"arn:aws:docs:{self.region}:{self.account_id}:document/{name}"

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        parts = path.strip("/").split("/")
        if parts == ["documents"] and method == "GET":
            status, answer = self.list_documents(environ, body)
        elif len(parts) == 2 and parts[0] == "documents" and parts[1]:
            handler = {"GET": self.get_document, "PUT": self.put_document, "DELETE": self.delete_document}.get(method)
            if handler is None:
                status, answer = 405, {"error": "method not allowed"}
            else:
                status, answer = handler(environ, body, parts[1])
        else:
            status, answer = 404, {"error": "not found"}
        data = json.dumps(answer).encode()
        reason = {200: "OK", 201: "Created", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(status, "")
        start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    # -- the handlers ----------------------------------------------------------------------------

    def get_document(self, environ: Environ, body: bytes, name: str) -> tuple[int, dict[str, Any]]:
        doc = self.documents.get(name)
        tags = doc[1] if doc else {}
        denied = self._check(environ, body, "docs:GetDocument", self.arn(name), tags)
        if denied is not None:
            return denied
        if doc is None:
            return 404, {"error": f"no document {name}"}
        return 200, {"name": name, "content": doc[0].decode(errors="replace"), "tags": tags}

    def put_document(self, environ: Environ, body: bytes, name: str) -> tuple[int, dict[str, Any]]:
        existing = self.documents.get(name)
        tags = existing[1] if existing else {}
        result = self._ask(
            environ, body, "docs:PutDocument", self.arn(name), tags, {"docs:ContentLength": str(len(body))}
        )
        if not result.allowed:
            return self._refusal(result)
        assert result.principal is not None
        with self._lock:
            owner = tags.get("owner") or result.principal.name or result.principal.arn
            self.documents[name] = (body, {**tags, "owner": owner})
        return 201, {"name": name, "owner": owner, "writtenBy": result.principal.arn}

    def delete_document(self, environ: Environ, body: bytes, name: str) -> tuple[int, dict[str, Any]]:
        doc = self.documents.get(name)
        denied = self._check(environ, body, "docs:DeleteDocument", self.arn(name), doc[1] if doc else {})
        if denied is not None:
            return denied
        with self._lock:
            self.documents.pop(name, None)
        return 200, {"deleted": name}

    def list_documents(self, environ: Environ, body: bytes) -> tuple[int, dict[str, Any]]:
        denied = self._check(environ, body, "docs:ListDocuments", self.arn("*"), {})
        if denied is not None:
            return denied
        return 200, {"documents": sorted(self.documents)}

    # -- asking iamd -------------------------------------------------------------------------------

    def _ask(
        self,
        environ: Environ,
        body: bytes,
        action: str,
        resource: str,
        tags: dict[str, str],
        context: dict[str, str] | None = None,
    ) -> AuthorizeResult:
        return self.iamd.authorize(
            RequestParts.from_wsgi(environ, body), action, resource, resource_tags=tags, context=context
        )

    def _check(
        self, environ: Environ, body: bytes, action: str, resource: str, tags: dict[str, str]
    ) -> tuple[int, dict[str, Any]] | None:
        result = self._ask(environ, body, action, resource, tags)
        return None if result.allowed else self._refusal(result)

    @staticmethod
    def _refusal(result: AuthorizeResult) -> tuple[int, dict[str, Any]]:
        if not result.authenticated:
            return 401, {"error": result.authentication_error, "requestId": result.request_id}
        return 403, {"error": "AccessDenied", "message": result.message, "why": result.explanation}


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(app: DocsService, host: str = "127.0.0.1", port: int = 0) -> Any:
    """A wsgiref server for ``app`` (``server.server_port``, ``server.serve_forever()``)."""
    return make_server(host, port, app, handler_class=_QuietHandler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--account-id", default=os.environ.get("DOCS_ACCOUNT_ID", "123456789012"))
    args = parser.parse_args()
    client = AuthorizeClient(
        os.environ.get("IAMD_URL", "http://127.0.0.1:8080"),
        access_key_id=os.environ["IAMD_SERVICE_KEY"],
        secret_access_key=os.environ["IAMD_SERVICE_SECRET"],
        session_token=os.environ.get("IAMD_SERVICE_TOKEN"),
    )
    server = serve(DocsService(client, args.account_id), port=args.port)
    print(f"docs service on http://127.0.0.1:{server.server_port}")
    server.serve_forever()


if __name__ == "__main__":
    main()
