"""Browser tests of the web console: Playwright (sync API) driving Debian's Chromium.

One iamd server (SQLite) serves the whole session and is reset before each test; a second one
in the aws-cn partition is started only for the module that needs it.  Every test gets a fresh
browser context (cookies, storage, virtual authenticators).

The pages are opened on ``http://localhost:PORT``, not ``127.0.0.1``: WebAuthn needs a secure
context, and ``localhost`` is one.  The relying party id is then ``localhost`` too.

Chromium is not optional: without ``/usr/bin/chromium`` these tests fail (CI installs it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.pages import TIMEOUT_MS, Console, watch_for_errors
from tests.support.server import Server, start_server

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SERVER_ENV = {
    # the defaults, spelled out: only the tests about refusals fail on purpose, and only a few times
    "IAMD_CONSOLE_USER_FREE_ATTEMPTS": "5",
    "IAMD_CONSOLE_SOURCE_FREE_ATTEMPTS": "25",
}


def _localhost(url: str) -> str:
    return url.replace("://127.0.0.1:", "://localhost:")


def pytest_configure(config: pytest.Config) -> None:
    # xdist registers it; without xdist (-p no:xdist) the mark is merely unknown
    config.addinivalue_line("markers", "xdist_group(name): run the marked tests in one xdist worker")


# --- the browser -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1100, "height": 800})
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    """A page that fails the test on uncaught script errors (a broken console.js, a CSP violation)."""
    pg = context.new_page()
    errors = watch_for_errors(pg)
    yield pg
    assert errors == [], f"script errors in the page: {errors}"


# --- servers -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("iamd-console"), extra_env=SERVER_ENV)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def console(console_server: Server) -> Console:
    """The session's server, freshly reset: users, devices, sessions and throttling all wiped."""
    console_server.reset()
    return Console(console_server, _localhost(console_server.url))


@pytest.fixture(scope="module")
def cn_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A server in the aws-cn partition (no security keys or passkeys there)."""
    srv = start_server(
        tmp_path_factory.mktemp("iamd-console-cn"), extra_env=SERVER_ENV, extra_args=["--partition", "aws-cn"]
    )
    try:
        yield Console(srv, _localhost(srv.url), partition="aws-cn")
    finally:
        srv.stop()
