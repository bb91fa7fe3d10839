"""A real nginx (Debian's package) in front of an upstream, asking an auth URL first (``auth_request``).

``start_nginx(workdir, auth_url=..., upstream_url=...)`` writes a config into ``workdir`` and runs
``nginx`` as the current user, in the foreground, on a free loopback port, with every path
(pid, logs, temp dirs) under ``workdir``.  The auth location passes the original method, URI and
host (``X-Original-Method``, ``X-Original-URI``, ``Host``) and the client's headers, without the
body, as iamd's forward-auth contract (iamd/forward_auth/headers.py) expects; on a 2xx the
``X-Iamd-*`` answer headers replace anything the client sent under those names on the upstream
request.  ``scripts/test`` installs nginx when it is missing.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from iamd.forward_auth.headers import RESPONSE_HEADERS

NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/bin/nginx")


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return next((p for p in NGINX_CANDIDATES if Path(p).is_file()), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _variable(header: str) -> str:
    return "iamd_" + header.lower().replace("x-iamd-", "").replace("-", "_")


def config(workdir: Path, port: int, auth_url: str, upstream_url: str) -> str:
    """The nginx configuration (documented in docs/design/audit-and-metrics.md as the model)."""
    sets = "\n".join(
        f"            auth_request_set ${_variable(name)} $upstream_http_{name.lower().replace('-', '_')};"
        for name in RESPONSE_HEADERS
    )
    passes = "\n".join(f"            proxy_set_header {name} ${_variable(name)};" for name in RESPONSE_HEADERS)
    return f"""
daemon off;
master_process off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /_iamd_auth {{
            internal;
            proxy_pass {auth_url};
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
        location / {{
            auth_request /_iamd_auth;
{sets}
{passes}
            proxy_set_header Host $http_host;
            proxy_pass {upstream_url};
        }}
    }}
}}
"""


@dataclass
class Nginx:
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def error_log(self) -> str:
        path = self.workdir / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_nginx(workdir: Path, *, auth_url: str, upstream_url: str, timeout: float = 20.0) -> Nginx:
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed: scripts/test installs Debian's nginx (apt-get install nginx)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(config(workdir, port, auth_url, upstream_url))
    check = subprocess.run([binary, "-t", "-p", str(workdir), "-c", str(conf)], capture_output=True, timeout=30)
    if check.returncode != 0:
        raise RuntimeError(f"nginx refused its configuration: {check.stderr.decode(errors='replace')}")
    process = subprocess.Popen(
        [binary, "-p", str(workdir), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    nginx = Nginx(port, process, workdir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"nginx exited with {process.returncode}: {err}{nginx.error_log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return nginx
        except OSError:
            time.sleep(0.05)
    nginx.stop()
    raise RuntimeError(f"nginx did not listen on 127.0.0.1:{port} within {timeout} s: {nginx.error_log()}")
