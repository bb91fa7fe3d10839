"""The console's routes: each reads a form or JSON, calls iamd.services.console, renders a page.

State lives in the database (sessions, challenges, throttling), so any node serves any request.
Every POST carries a CSRF token: the session's own once signed in, before that an HMAC of the
pre-sign-in cookie.  POSTs from another origin are refused outright.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

import jinja2

from iamd.core.clock import iso8601
from iamd.core.errors import AwsError
from iamd.core.http import HttpRequest
from iamd.services.console import actions, fido_devices, sessions, signin, throttle
from iamd.services.console.errors import STEP_EXPIRED, ChallengeGone, ConsoleError
from iamd.services.console.identity import Identity, identity_of
from iamd.services.console.sessions import ACTIVE, CHANGE_DUE, MFA_DUE, ConsoleSession
from iamd.services.dispatch import request_context
from iamd.services.runtime import Runtime
from iamd.web import console_audit
from iamd.web.console import audit_page
from iamd.web.console.http import Reply, cookie, cookies, expired_cookie, form, json_body, json_reply, redirect
from iamd.web.protocol.form import parse_form
from iamd.web.protocol.model import ServiceSpec, load_service
from iamd.web.protocol.query_parser import parse_input

log = logging.getLogger("iamd.console")

PREFIX = "/console"
STATIC = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}


class Page:
    """One request's view of the console: cookies, the session, and how to answer."""

    active: tuple[ConsoleSession, Identity] | None = None
    """Set by ``signed_in`` routes: the active session and who it acts as."""

    @property
    def signed_in_as(self) -> tuple[ConsoleSession, Identity]:
        if self.active is None:
            raise ConsoleError(STEP_EXPIRED, status=401)
        return self.active

    def __init__(self, console: ConsoleHandler, request: HttpRequest) -> None:
        self.console = console
        self.rt = console.rt
        self.request = request
        self.secure = request.secure
        self.cookies = cookies(request)
        self.form = form(request)
        self.set_cookies: list[str] = []
        self._session: ConsoleSession | None = None
        self._session_loaded = False
        self._pre = self.cookies.get(self.pre_cookie_name, "")
        if not self._pre or len(self._pre) > 64:
            self._pre = secrets.token_urlsafe(24)
            self.set_cookies.append(cookie(self.pre_cookie_name, self._pre, secure=self.secure))

    # -- cookies and sessions ---------------------------------------------------------------------

    @property
    def session_cookie_name(self) -> str:
        return "__Host-iamd_session" if self.secure else "iamd_session"

    @property
    def pre_cookie_name(self) -> str:
        return "__Host-iamd_pre" if self.secure else "iamd_pre"

    @property
    def session(self) -> ConsoleSession | None:
        if not self._session_loaded:
            token = self.cookies.get(self.session_cookie_name)
            with self.rt.db.read() as conn:
                self._session = sessions.load(conn, token, self.rt.clock.time())
            self._session_loaded = True
        return self._session

    def start_session(self, started: signin.Started) -> None:
        self._session, self._session_loaded = started.session, True
        self.set_cookies.append(cookie(self.session_cookie_name, started.token, secure=self.secure))

    def drop_session(self) -> None:
        self._session, self._session_loaded = None, True
        self.set_cookies.append(expired_cookie(self.session_cookie_name, secure=self.secure))

    @property
    def binding(self) -> str:
        """What WebAuthn challenges are bound to: the session, or the pre-sign-in cookie."""
        session = self.session
        return session.id if session is not None else fido_devices.binding_of("pre:" + self._pre)

    # -- CSRF ---------------------------------------------------------------------------------------

    @property
    def csrf(self) -> str:
        session = self.session
        if session is not None:
            return session.csrf
        key = self.rt.box.derive_key("console-csrf")
        return hmac.new(key, self._pre.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, presented: str | None) -> None:
        origin = self.request.header("origin")
        if origin is not None and origin != self.origin:
            raise ConsoleError("This request came from another site and was refused.", status=403)
        if not presented or not hmac.compare_digest(presented.encode(), self.csrf.encode()):
            raise ConsoleError("Your form expired. Reload the page and try again.", status=403)

    @property
    def origin(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.host}"

    @property
    def host(self) -> str:
        return self.request.header("host") or f"{self.rt.settings.server.host}:{self.rt.settings.server.port}"

    @property
    def source_ip(self) -> str:
        return self.request.source_ip

    # -- answers ------------------------------------------------------------------------------------

    def render(self, template: str, status: int = 200, **values: Any) -> Reply:
        values.setdefault("error", None)
        values.setdefault("notice", None)
        session = self._session if self._session_loaded else None
        body = self.console.templates.get_template(template).render(
            csrf=self.csrf,
            partition=self.rt.settings.identity.partition,
            fido_offered=fido_devices.offered(self.rt.settings),
            signed_in=session is not None and session.state == ACTIVE,
            iso=iso8601,
            **values,
        )
        return Reply(status=status, body=body.encode(), set_cookies=self.set_cookies)

    def go(self, location: str) -> Reply:
        reply = redirect(location)
        reply.set_cookies = self.set_cookies
        return reply

    def json(self, data: dict[str, Any], status: int = 200) -> Reply:
        reply = json_reply(data, status)
        reply.set_cookies = self.set_cookies
        return reply

    def caller(self, identity: Identity) -> actions.Caller:
        return actions.Caller(
            self.rt,
            identity,
            request_context(self.request, self.rt.settings.identity.region),
            self.source_ip,
            self.console.parse_input,
        )

    def rp(self) -> Any:
        return fido_devices.relying_party(self.rt.settings, self.host, "https" if self.secure else "http")


Route = Callable[[Page], Reply]
PageMethod = Callable[..., Reply]


def signed_in(*, as_json: bool = False) -> Callable[[PageMethod], PageMethod]:
    """A route for signed-in sessions only: resolves the session and identity once, and checks the
    CSRF token of every POST (the form's ``csrf`` field, or ``X-CSRF-Token`` for JSON calls)."""

    def wrap(route: PageMethod) -> PageMethod:
        @functools.wraps(route)
        def run(self: ConsoleHandler, page: Page, *args: Any, **kwargs: Any) -> Reply:
            if page.active is None:
                active = self._active(page)
                if isinstance(active, Reply):
                    return page.json({"error": STEP_EXPIRED}, 401) if as_json else active
                if page.request.method == "POST":
                    page.check_csrf(page.request.header("x-csrf-token") if as_json else page.form.get("csrf"))
                page.active = active
            return route(self, page, *args, **kwargs)

        return run

    return wrap


def _change_password(page: Page, identity: Identity) -> tuple[str, int] | None:
    """The password form (``_password_form.html``) as ChangePassword; (message, status) when refused."""
    f = page.form
    if f.get("new_password", "") != f.get("confirm_password", ""):
        return "The new passwords do not match.", 400
    try:
        actions.change_password(page.caller(identity), f.get("old_password", ""), f.get("new_password", ""))
    except AwsError as err:
        return _in_words(err, "change your password"), err.status
    return None


SELF_SERVICE_POLICY = "docs/policies/self-manage-mfa.json"


def _in_words(err: AwsError, what: str) -> str:
    """A refusal explained to the person (which permission is missing), not a raw AccessDenied."""
    if err.code != "AccessDenied":
        return err.message
    m = re.search(r"perform: (\S+)", err.message)
    action = m.group(1) if m else "a permission you do not have"
    if "explicit deny" in err.message:
        why = f"a policy explicitly denies {action} (some do until you sign in with MFA)"
    else:
        why = f"that needs {action}"
    return (
        f"Your permissions do not let you {what}: {why}. Ask an administrator of this account "
        f"(iamd ships AWS's self-service example as {SELF_SERVICE_POLICY})."
    )


def _retry_after(reply: Reply, seconds: float) -> Reply:
    """A throttled answer says when to come back (RFC 9110 Retry-After, whole seconds)."""
    if seconds:
        reply.extra.append(("retry-after", str(int(seconds))))
    return reply


def _next_step(session: ConsoleSession | None) -> str:
    if session is None:
        return f"{PREFIX}"
    return {MFA_DUE: f"{PREFIX}/mfa", CHANGE_DUE: f"{PREFIX}/password"}.get(session.state, f"{PREFIX}/home")


class ConsoleHandler:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.specs: dict[str, ServiceSpec] = {name: load_service(name) for name in ("iam", "sts")}
        signin.prepare()
        settings = rt.settings
        if settings.console.webauthn_rp_id is None and settings.server.host not in ("127.0.0.1", "localhost", "::1"):
            log.warning(
                "IAMD_WEBAUTHN_RP_ID is not set: WebAuthn trusts the Host header of each request for its relying "
                "party id and origin; set IAMD_WEBAUTHN_RP_ID and IAMD_WEBAUTHN_ORIGINS for a public console"
            )
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("iamd.web.console", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.routes: dict[tuple[str, str], Route] = {
            ("GET", ""): self.signin_page,
            ("GET", "/"): self.signin_page,
            ("POST", "/signin"): self.signin,
            ("GET", "/mfa"): self.mfa_page,
            ("POST", "/mfa/totp"): self.mfa_totp,
            ("POST", "/webauthn/authenticate/options"): self.authenticate_options,
            ("POST", "/webauthn/authenticate/verify"): self.authenticate_verify,
            ("GET", "/password"): self.password_page,
            ("POST", "/password"): self.password_change_due,
            ("GET", "/home"): self.home,
            ("GET", "/audit"): self.audit,
            ("POST", "/switch-role"): self.switch_role,
            ("POST", "/switch-back"): self.switch_back,
            ("POST", "/credentials"): self.credentials,
            ("GET", "/security"): self.security,
            ("POST", "/security/password"): self.security_password,
            ("POST", "/security/virtual-mfa"): self.virtual_mfa_create,
            ("POST", "/security/virtual-mfa/enable"): self.virtual_mfa_enable,
            ("POST", "/security/remove"): self.remove_device,
            ("POST", "/webauthn/register/options"): self.register_options,
            ("POST", "/webauthn/register/verify"): self.register_verify,
            ("POST", "/signout"): self.signout,
        }
        from iamd.web.console.admin import AdminPages  # it builds on Page, defined here

        self.routes.update(AdminPages(self).routes())

    def parse_input(self, service: str, action: str, params: Mapping[str, str]) -> dict[str, Any]:
        """The API's input validation (botocore's model) for what a console form asks for."""
        return parse_input(self.specs[service], action, params)

    # -- entry -----------------------------------------------------------------------------------------

    def handle(self, request: HttpRequest) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        path = request.path.split("?", 1)[0]
        sub = path[len(PREFIX) :]
        if request.method == "GET" and sub.startswith("/static/"):
            return self._static(sub[len("/static/") :]).encode()
        route = self.routes.get((request.method, sub))
        if route is None:
            allowed = any(p == sub for _, p in self.routes)
            return Reply(
                405 if allowed else 404, b"not found\n" if not allowed else b"method not allowed\n", "text/plain"
            ).encode()
        page = Page(self, request)
        try:
            self.rt.watcher.refresh_if_due()
            return route(page).encode()
        except ConsoleError as err:
            return self._error(page, err.message, err.status, err.retry_after).encode()
        except AwsError as err:
            return self._error(page, err.message or err.code, err.status, 0).encode()
        except Exception:
            log.exception("console request %s %s failed", request.method, path)
            return self._error(page, "Something went wrong on our side. Try again.", 500, 0).encode()

    def _error(self, page: Page, message: str, status: int, retry_after: float) -> Reply:
        wants_json = (page.request.header("content-type") or "").startswith("application/json")
        if wants_json:
            reply = page.json({"error": message}, status)
        else:
            try:
                reply = page.render("error.html", status=status, error=message, back=_next_step(page.session))
            except Exception:  # the store itself is what failed: answer without it
                return Reply(status, f"{message}\n".encode(), "text/plain; charset=utf-8")
        return _retry_after(reply, retry_after)

    def _static(self, name: str) -> Reply:
        content_type = STATIC.get(name)
        if content_type is None:
            return Reply(404, b"not found\n", "text/plain")
        body = resources.files("iamd.web.console").joinpath("static", name).read_bytes()
        reply = Reply(200, body, content_type)
        return reply

    # -- helpers ----------------------------------------------------------------------------------------

    def _active(self, page: Page) -> tuple[ConsoleSession, Identity] | Reply:
        session = page.session
        if session is None or session.state != ACTIVE:
            return page.go(_next_step(session) if session is not None else f"{PREFIX}")
        with self.rt.db.read() as conn:
            identity = identity_of(conn, self.rt, session)
        if identity is None:
            page.drop_session()
            return page.go(PREFIX)
        return session, identity

    def _pending(self, page: Page, state: str) -> ConsoleSession:
        session = page.session
        if session is None or session.state != state:
            raise ConsoleError(STEP_EXPIRED, status=401)
        return session

    # -- sign-in ------------------------------------------------------------------------------------------

    def signin_page(
        self, page: Page, error: str | None = None, status: int = 200, values: dict[str, str] | None = None
    ) -> Reply:
        session = page.session
        if session is not None and error is None:
            return page.go(_next_step(session))
        values = values or {}
        query = parse_form(page.request.query_string) if page.request.query_string else {}
        if query.get("root") == "1":
            values = {**values, "kind": "root"}
        return page.render(
            "signin.html",
            status=status,
            error=error,
            notice="You have signed out." if query.get("signed_out") == "1" and error is None else None,
            account=values.get("account", ""),
            username=values.get("username", ""),
            email=values.get("email", ""),
            root=values.get("kind") == "root",
        )

    def signin(self, page: Page) -> Reply:
        f = page.form
        page.check_csrf(f.get("csrf"))
        try:
            if f.get("kind") == "root":
                started = signin.sign_in_root(self.rt, f.get("email", ""), f.get("password", ""), page.source_ip)
            else:
                started = signin.sign_in_user(
                    self.rt, f.get("account", ""), f.get("username", ""), f.get("password", ""), page.source_ip
                )
        except ConsoleError as err:
            self._audit_password(page, None)
            return _retry_after(self.signin_page(page, err.message, err.status, f), err.retry_after)
        self._audit_password(page, started.session)
        previous = page.session
        if previous is not None:  # signing in again ends whatever half or whole session the cookie held
            with self.rt.db.side_write() as conn:
                sessions.end(conn, previous.id)
        page.start_session(started)
        return page.go(_next_step(started.session))

    def _audit_password(self, page: Page, session: ConsoleSession | None) -> None:
        f = page.form
        console_audit.password_step(
            self.rt,
            page.request,
            root=f.get("kind") == "root",
            account_ref=f.get("account", ""),
            user_name=f.get("username", ""),
            email=f.get("email", ""),
            password=f.get("password", ""),
            session=session,
        )

    def mfa_page(self, page: Page, error: str | None = None, status: int = 200) -> Reply:
        session = page.session
        if session is None or session.state != MFA_DUE:
            return page.go(_next_step(session))
        with self.rt.db.read() as conn:
            devices = signin.owner_devices(conn, *session.owner)
        totp_devices = [d for d in devices if d.kind in signin.TOTP_KINDS]
        has_fido = any(d.kind == signin.FIDO_KIND for d in devices) and fido_devices.offered(self.rt.settings)
        return page.render("mfa.html", status=status, error=error, totp_devices=totp_devices, has_fido=has_fido)

    def mfa_totp(self, page: Page) -> Reply:
        session = self._pending(page, MFA_DUE)
        page.check_csrf(page.form.get("csrf"))
        try:
            started = signin.verify_totp(
                self.rt, session, page.form.get("serial", ""), page.form.get("code", ""), page.source_ip
            )
        except ConsoleError as err:
            serial = page.form.get("serial", "")
            console_audit.second_factor(
                self.rt, page.request, session=session, passed=None, serial=serial, code=page.form.get("code", "")
            )
            return _retry_after(self.mfa_page(page, err.message, err.status), err.retry_after)
        console_audit.second_factor(
            self.rt,
            page.request,
            session=session,
            passed=started.session,
            serial=page.form.get("serial", ""),
            code=page.form.get("code", ""),
        )
        page.start_session(started)
        return page.go(_next_step(started.session))

    def authenticate_options(self, page: Page) -> Reply:
        page.check_csrf(page.request.header("x-csrf-token"))
        session = page.session
        if session is not None and session.state == MFA_DUE:
            owner: fido_devices.Owner | None = session.owner
        elif session is None:
            owner = None  # passkey-first sign-in
        else:
            return page.json({"redirect": _next_step(session)})
        options = fido_devices.begin_authentication(self.rt, page.binding, page.rp(), owner=owner)
        return page.json({"publicKey": options})

    def authenticate_verify(self, page: Page) -> Reply:
        page.check_csrf(page.request.header("x-csrf-token"))
        body = json_body(page.request)
        session = page.session
        owner = session.owner if session is not None else None
        if session is not None and session.state != MFA_DUE:
            return page.json({"redirect": _next_step(session)})
        mfa_key = signin.mfa_key(session) if session is not None else f"passkey:{page.source_ip or '-'}"
        source = throttle.source_key(page.source_ip)
        now = self.rt.clock.time()
        signin.check_throttle(self.rt, [mfa_key, source], now)
        try:
            result = fido_devices.finish_authentication(
                self.rt, page.binding, page.rp(), body.get("credential") or {}, owner=owner, source_ip=page.source_ip
            )
        except ChallengeGone:
            raise
        except ConsoleError:
            signin.record_failure(self.rt, mfa_key, page.source_ip, now, shared=session is None)
            console_audit.second_factor(self.rt, page.request, session=session, passed=None, serial="", kind="fido")
            raise
        if session is None:
            session = signin.start_for_passkey(self.rt, result.account_id, result.user_id, page.source_ip)
            started = signin.second_factor_passed(self.rt, session, result.serial, multi_factor=result.user_verified)
        else:
            started = signin.second_factor_passed(self.rt, session, result.serial, multi_factor=True)
        console_audit.second_factor(
            self.rt, page.request, session=session, passed=started.session, serial=result.serial, kind="fido"
        )
        page.start_session(started)
        return page.json({"redirect": _next_step(started.session)})

    def password_page(self, page: Page, error: str | None = None, status: int = 200) -> Reply:
        session = page.session
        if session is None or session.state != CHANGE_DUE:
            return page.go(_next_step(session))
        with self.rt.db.read() as conn:
            policy = signin.password_rules(conn, session.account_id)
        return page.render("password.html", status=status, error=error, policy=policy)

    def password_change_due(self, page: Page) -> Reply:
        session = self._pending(page, CHANGE_DUE)
        page.check_csrf(page.form.get("csrf"))
        with self.rt.db.read() as conn:
            identity = identity_of(conn, self.rt, session)
        if identity is None:
            raise ConsoleError(STEP_EXPIRED, status=401)
        refused = _change_password(page, identity)
        if refused is not None:
            return self.password_page(page, *refused)
        page.start_session(signin.password_changed(self.rt, session))
        return page.go(f"{PREFIX}/home")

    # -- home -------------------------------------------------------------------------------------------------

    @signed_in()
    def home(self, page: Page, error: str | None = None, status: int = 200, notice: str | None = None) -> Reply:
        session, identity = page.signed_in_as
        return page.render(
            "home.html",
            status=status,
            error=error,
            notice=notice,
            session=session,
            identity=identity,
            principal=identity.principal,
            signed_in_as=identity.signed_in,
            role=identity.role,
        )

    @signed_in()
    def audit(self, page: Page) -> Reply:
        """The audit trail of the signed-in account (root, or ``cloudtrail:LookupEvents``)."""
        _, identity = page.signed_in_as
        principal = identity.principal
        audit_page.may_look_up(self.rt, principal, request_context(page.request, self.rt.settings.identity.region))
        return page.render("audit.html", **audit_page.page_values(self.rt, principal, page.request.query_string))

    @signed_in()
    def switch_role(self, page: Page) -> Reply:
        session, identity = page.signed_in_as
        f = page.form
        role_arn = actions.role_arn_for(self.rt, f.get("account", ""), f.get("role", ""))
        try:
            actions.switch_role(page.caller(identity), session, role_arn)
        except AwsError as err:
            return self.home(page, f"You cannot switch to {role_arn}: {err.message}", err.status)
        return page.go(f"{PREFIX}/home")

    @signed_in()
    def switch_back(self, page: Page) -> Reply:
        session, _ = page.signed_in_as
        actions.switch_back(self.rt, session)
        return page.go(f"{PREFIX}/home")

    @signed_in()
    def credentials(self, page: Page) -> Reply:
        session, identity = page.signed_in_as
        creds = actions.command_line_credentials(self.rt, identity, session)
        return page.render(
            "credentials.html",
            creds=creds,
            principal=identity.principal,
            region=self.rt.settings.identity.region,
            endpoint=page.origin,
        )

    # -- security credentials ------------------------------------------------------------------------------

    @signed_in()
    def security(self, page: Page, error: str | None = None, status: int = 200, notice: str | None = None) -> Reply:
        session, identity = page.signed_in_as
        devices: list[actions.DeviceView] = []
        list_error = None
        try:
            devices = actions.list_devices(page.caller(identity))
        except AwsError as err:
            list_error = _in_words(err, "see your MFA devices")
        return page.render(
            "security.html",
            status=status,
            error=error,
            notice=notice,
            list_error=list_error,
            devices=devices,
            identity=identity,
            is_root=session.is_root,
            device_limit=self.rt.settings.quotas.mfa_devices_per_user,
        )

    @signed_in()
    def security_password(self, page: Page) -> Reply:
        _, identity = page.signed_in_as
        refused = _change_password(page, identity)
        if refused is not None:
            return self.security(page, *refused)
        return self.security(page, notice="Your password was changed.")

    @signed_in()
    def virtual_mfa_create(self, page: Page) -> Reply:
        _, identity = page.signed_in_as
        name = page.form.get("name", "").strip()
        try:
            device = actions.create_virtual_device(page.caller(identity), name)
        except AwsError as err:
            return self.security(page, _in_words(err, "add an authenticator app"), err.status)
        return page.render("virtual_mfa.html", device=device, name=name)

    @signed_in()
    def virtual_mfa_enable(self, page: Page) -> Reply:
        _, identity = page.signed_in_as
        f = page.form
        caller = page.caller(identity)
        if f.get("cancel"):
            try:
                actions.abandon_virtual_device(caller, f.get("serial", ""))
            except AwsError as err:
                return self.security(page, err.message, err.status)
            return page.go(f"{PREFIX}/security")
        try:
            actions.enable_virtual_device(caller, f.get("serial", ""), f.get("code1", ""), f.get("code2", ""))
        except AwsError as err:
            with contextlib.suppress(AwsError):
                actions.abandon_virtual_device(caller, f.get("serial", ""))
            return self.security(page, f"The device was not added. {_in_words(err, 'turn the device on')}", err.status)
        return self.security(page, notice="Your authenticator app was added.")

    @signed_in()
    def remove_device(self, page: Page) -> Reply:
        _, identity = page.signed_in_as
        try:
            actions.remove_device(page.caller(identity), page.form.get("serial", ""))
        except AwsError as err:
            return self.security(page, _in_words(err, "remove this device"), err.status)
        return self.security(page, notice="The device was removed.")

    @signed_in(as_json=True)
    def register_options(self, page: Page) -> Reply:
        session, identity = page.signed_in_as
        fido_devices.require_offered(self.rt.settings)
        caller = page.caller(identity)
        actions.authorize_fido_registration(caller)
        options = fido_devices.begin_registration(
            self.rt,
            page.binding,
            page.rp(),
            account_id=session.account_id,
            user_id=session.user_id,
            name=caller.owner_name,
        )
        return page.json({"publicKey": options})

    @signed_in(as_json=True)
    def register_verify(self, page: Page) -> Reply:
        session, identity = page.signed_in_as
        body = json_body(page.request)
        caller = page.caller(identity)
        actions.authorize_fido_registration(caller)
        serial = fido_devices.finish_registration(
            self.rt,
            page.binding,
            page.rp(),
            body.get("credential") or {},
            account_id=session.account_id,
            user_id=session.user_id,
            owner_name=identity.user_name,
            device_name=str(body.get("name") or ""),
            actor_arn=identity.signed_in.arn,
            source_ip=page.source_ip,
        )
        return page.json({"serial": serial, "redirect": f"{PREFIX}/security"})

    def signout(self, page: Page) -> Reply:
        session = page.session
        if session is not None:
            page.check_csrf(page.form.get("csrf"))
            with self.rt.db.side_write() as conn:
                sessions.end(conn, session.id)
        page.drop_session()
        return page.go(f"{PREFIX}?signed_out=1")
