"""Routes beside the AWS API and the console: the authorization API, forward-auth, ``/metrics``;
and the node's background work for the audit trail (its writer, retention, the head in the log)."""

from __future__ import annotations

import logging
import threading

from iamd import metrics
from iamd.audit import store as audit_store
from iamd.core.http import HttpRequest
from iamd.services.runtime import Runtime
from iamd.web.authorize import AUTHORIZE_PATH, FORWARD_AUTH_PATH, OPENAPI_PATH, AuthorizeHandler, Response

log = logging.getLogger("iamd.audit")

PRUNE_INTERVAL_SECONDS = 86400.0
HEAD_LOG_INTERVAL_SECONDS = 300.0


class ExtraRoutes:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.authorize = AuthorizeHandler(runtime)
        self._started = False
        self._stop = threading.Event()

    def handle(self, request: HttpRequest) -> Response:
        path, method = request.path.split("?", 1)[0], request.method
        if path == AUTHORIZE_PATH:
            return self.authorize.authorize(request)
        if path == OPENAPI_PATH and method in ("GET", "HEAD"):
            return self.authorize.openapi_json()
        if path == FORWARD_AUTH_PATH or path.startswith(FORWARD_AUTH_PATH + "/"):
            return self.authorize.forward_auth(request)
        if path == "/metrics" and method in ("GET", "HEAD") and self.rt.settings.metrics.enabled:
            content_type, body = metrics.render()
            return 200, [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())], body
        body = b"not found\n"
        return 404, [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())], body

    # -- background ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the audit writer, the metrics of the database and the retention thread (once per process)."""
        if self._started:
            return
        self._started = True
        rt = self.rt
        if rt.settings.metrics.enabled:
            metrics.instrument_engine(rt.db.engine)
            metrics.start_counter_sync()
        rt.audit.start()
        if rt.audit.enabled:
            threading.Thread(target=self._housekeeping, name="iamd-audit-retention", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _housekeeping(self) -> None:
        """Every few minutes the chain's head goes to the log (a copy kept elsewhere); once a day, the prune.
        Every node prunes: the chain lock serialises them and the second finds nothing to delete."""
        last_prune = 0.0
        while not self._stop.wait(HEAD_LOG_INTERVAL_SECONDS if last_prune else 60.0):
            try:
                with self.rt.db.read() as conn:
                    tip = audit_store.read_tip(conn)
                log.info("audit chain head: %d:%s", tip.sequence, tip.hash)
                days = self.rt.settings.audit.retention_days
                now = self.rt.clock.monotonic()
                if not last_prune or now - last_prune >= PRUNE_INTERVAL_SECONDS:
                    last_prune = now
                    if days > 0:
                        deleted = self.rt.audit.prune(self.rt.clock.time() - days * 86400.0)
                        if deleted:
                            log.info("audit retention: pruned %d records older than %d days", deleted, days)
            except Exception:
                log.warning("audit housekeeping failed; will retry", exc_info=True)
