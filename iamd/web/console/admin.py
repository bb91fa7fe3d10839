"""The console's administration pages: users, groups, roles, policies, the policy editor, the
account, and who-can-do-what.

Pages are GETs that read through IAM calls made as the signed-in identity; every change is a
POST to ``/console/do`` naming an operation from ``OPS``, made as the same identity, and answered
with a redirect (POST-redirect-GET).  What the next page says (and, once, a new access key's
secret) travels in a short-lived cookie sealed with the master key and bound to the session.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from markupsafe import Markup, escape

from iamd.core.errors import AwsError
from iamd.services.console import access, admin, policy_check
from iamd.services.console.access import Graph, Principals
from iamd.services.console.actions import Caller
from iamd.services.console.admin import NotAllowed, Op
from iamd.services.console.sessions import ConsoleSession
from iamd.services.runtime import Runtime
from iamd.web.console.http import Reply, cookie, expired_cookie, json_body
from iamd.web.protocol.form import parse_form

if TYPE_CHECKING:
    from iamd.web.console.handler import ConsoleHandler, Page

P = "/console"
FLASH_AAD = b"iamd-console-flash:"
FLASH_SECONDS = 120

_U = P + "/user?{UserName}"
_G = P + "/group?{GroupName}"
_R = P + "/role?{RoleName}"
_POL = P + "/policy?{PolicyArn}"


def _entity_ops(kind: str, back: str, *, boundary: bool = True, tags: bool = True) -> dict[str, Op]:
    """The changes users, groups and roles share: managed and inline policies, boundary, tags."""
    Kind, key = kind.capitalize(), f"{kind.capitalize()}Name"
    ops = {
        f"attach-{kind}": Op(f"Attach{Kind}Policy", (key, "PolicyArn"), "{PolicyArn} was attached.", back),
        f"detach-{kind}": Op(f"Detach{Kind}Policy", (key, "PolicyArn"), "{PolicyArn} was detached.", back),
        f"delete-{kind}-inline": Op(f"Delete{Kind}Policy", (key, "PolicyName"), "{PolicyName} was deleted.", back),
    }
    if boundary:
        ops[f"{kind}-boundary"] = Op(
            f"Put{Kind}PermissionsBoundary", (key, "PermissionsBoundary"), "The permissions boundary was set.", back
        )
        ops[f"{kind}-boundary-delete"] = Op(
            f"Delete{Kind}PermissionsBoundary", (key,), "The permissions boundary was removed.", back
        )
    if tags:
        ops[f"tag-{kind}"] = Op(
            f"Tag{Kind}", (key, "Tags.member.1.Key", "Tags.member.1.Value"), "The tag was saved.", back
        )
        ops[f"untag-{kind}"] = Op(f"Untag{Kind}", (key, "TagKeys.member.1"), "The tag was removed.", back)
    return ops


OPS: dict[str, Op] = {
    **_entity_ops("user", _U),
    **_entity_ops("group", _G, boundary=False, tags=False),
    **_entity_ops("role", _R),
    # users
    "create-user": Op("CreateUser", ("UserName", "Path"), "User {UserName} was created.", _U),
    "delete-user": Op("DeleteUser", ("UserName",), "User {UserName} was deleted.", P + "/users"),
    "create-key": Op("CreateAccessKey", ("UserName",), "A new access key was created.", _U),
    "key-status": Op(
        "UpdateAccessKey", ("UserName", "AccessKeyId", "Status"), "Key {AccessKeyId} is now {Status}.", _U
    ),
    "delete-key": Op("DeleteAccessKey", ("UserName", "AccessKeyId"), "Key {AccessKeyId} was deleted.", _U),
    "add-to-group": Op("AddUserToGroup", ("UserName", "GroupName"), "{UserName} was added to {GroupName}.", _U),
    "remove-from-group": Op(
        "RemoveUserFromGroup", ("UserName", "GroupName"), "{UserName} was removed from {GroupName}.", _U
    ),
    "deactivate-mfa": Op(
        "DeactivateMFADevice", ("UserName", "SerialNumber"), "MFA device {SerialNumber} was deactivated.", _U
    ),
    "create-login": Op(
        "CreateLoginProfile",
        ("UserName", "Password", "PasswordResetRequired"),
        "{UserName} can now sign in to the console.",
        _U,
    ),
    "update-login": Op(
        "UpdateLoginProfile",
        ("UserName", "Password", "PasswordResetRequired"),
        "The console password of {UserName} was updated.",
        _U,
    ),
    "delete-login": Op("DeleteLoginProfile", ("UserName",), "{UserName} can no longer sign in to the console.", _U),
    # groups
    "create-group": Op("CreateGroup", ("GroupName", "Path"), "Group {GroupName} was created.", _G),
    "delete-group": Op("DeleteGroup", ("GroupName",), "Group {GroupName} was deleted.", P + "/groups"),
    "add-member": Op("AddUserToGroup", ("GroupName", "UserName"), "{UserName} was added to {GroupName}.", _G),
    "remove-member": Op(
        "RemoveUserFromGroup", ("GroupName", "UserName"), "{UserName} was removed from {GroupName}.", _G
    ),
    # roles
    "delete-role": Op("DeleteRole", ("RoleName",), "Role {RoleName} was deleted.", P + "/roles"),
    "update-role": Op(
        "UpdateRole", ("RoleName", "Description", "MaxSessionDuration"), "Role {RoleName} was updated.", _R
    ),
    # policies
    "set-default": Op(
        "SetDefaultPolicyVersion", ("PolicyArn", "VersionId"), "{VersionId} is now the default version.", _POL
    ),
    "delete-version": Op("DeletePolicyVersion", ("PolicyArn", "VersionId"), "{VersionId} was deleted.", _POL),
    "delete-policy": Op("DeletePolicy", ("PolicyArn",), "The policy was deleted.", P + "/policies"),
    # account
    "create-alias": Op(
        "CreateAccountAlias", ("AccountAlias",), "The account alias is now {AccountAlias}.", P + "/account"
    ),
    "delete-alias": Op("DeleteAccountAlias", ("AccountAlias",), "The account alias was removed.", P + "/account"),
    "password-policy": Op(
        "UpdateAccountPasswordPolicy",
        (
            "MinimumPasswordLength",
            "RequireSymbols",
            "RequireNumbers",
            "RequireUppercaseCharacters",
            "RequireLowercaseCharacters",
            "AllowUsersToChangePassword",
            "MaxPasswordAge",
            "PasswordReusePrevention",
            "HardExpiry",
        ),
        "The password policy was saved.",
        P + "/account",
    ),
    "password-policy-delete": Op("DeleteAccountPasswordPolicy", (), "The password policy was removed.", P + "/account"),
}

BOOLEAN_FIELDS = {
    "PasswordResetRequired",
    "RequireSymbols",
    "RequireNumbers",
    "RequireUppercaseCharacters",
    "RequireLowercaseCharacters",
    "AllowUsersToChangePassword",
    "HardExpiry",
}

# The editor's targets: what saving does, which validator kind applies, where to go next.
EDITOR_TARGETS: dict[str, Op] = {
    "new-policy": Op("CreatePolicy", ("PolicyName", "Path", "Description", "PolicyDocument"), "Policy created.", ""),
    "new-version": Op(
        "CreatePolicyVersion", ("PolicyArn", "PolicyDocument", "SetAsDefault"), "A new default version was saved.", _POL
    ),
    "user": Op("PutUserPolicy", ("UserName", "PolicyName", "PolicyDocument"), "{PolicyName} was saved.", _U),
    "group": Op("PutGroupPolicy", ("GroupName", "PolicyName", "PolicyDocument"), "{PolicyName} was saved.", _G),
    "role": Op("PutRolePolicy", ("RoleName", "PolicyName", "PolicyDocument"), "{PolicyName} was saved.", _R),
    "trust": Op("UpdateAssumeRolePolicy", ("RoleName", "PolicyDocument"), "The trust policy was saved.", _R),
    "new-role": Op(
        "CreateRole",
        ("RoleName", "Path", "Description", "AssumeRolePolicyDocument", "MaxSessionDuration"),
        "Role {RoleName} was created.",
        _R,
    ),
}
EDITOR_KIND = {"new-policy": "managed", "new-version": "managed", "trust": "trust", "new-role": "trust"}

STARTER = (
    '{\n  "Version": "2012-10-17",\n  "Statement": [\n    {\n      "Effect": "Allow",\n'
    '      "Action": "",\n      "Resource": "*"\n    }\n  ]\n}'
)
TRUST_STARTER = (
    '{\n  "Version": "2012-10-17",\n  "Statement": [\n    {\n      "Effect": "Allow",\n'
    '      "Principal": {"AWS": "arn:aws:iam::ACCOUNT:root"},\n      "Action": "sts:AssumeRole"\n    }\n  ]\n}'
)


def _back(template: str, values: dict[str, str]) -> str:
    """A redirect target: ``/console/user?{UserName}`` becomes ``/console/user?name=alice``."""

    def fill(m: re.Match[str]) -> str:
        key = m.group(1)
        name = {"PolicyArn": "arn"}.get(key, "name")
        return urlencode({name: values.get(key, "")})

    return re.sub(r"\{(\w+)\}", fill, template)


def breakable(value: object) -> Markup:
    """An ARN or other long token that may wrap after its ``:`` and ``/`` (never mid-word at 390 px)."""
    return escape(str(value)).replace(":", Markup(":<wbr>")).replace("/", Markup("/<wbr>"))


def _say(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{([\w.]+)\}", lambda m: values.get(m.group(1), ""), template)


def _split(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", text) if part]


View = Callable[["Page", ConsoleSession, Caller, dict[str, str]], Reply]
Change = Callable[["Page", ConsoleSession, Caller], Reply]


class AdminPages:
    def __init__(self, console: ConsoleHandler) -> None:
        self.console = console
        self.rt = console.rt
        console.templates.filters["pair"] = lambda value: (value, value)
        console.templates.filters["breakable"] = breakable
        console.templates.filters["pretty"] = access.pretty

    def routes(self) -> dict[tuple[str, str], Callable[[Page], Reply]]:
        return {
            ("GET", "/users"): self._view(self.users),
            ("GET", "/user"): self._view(self.user),
            ("GET", "/groups"): self._view(self.groups),
            ("GET", "/group"): self._view(self.group),
            ("GET", "/roles"): self._view(self.roles),
            ("GET", "/role"): self._view(self.role),
            ("GET", "/policies"): self._view(self.policies),
            ("GET", "/policy"): self._view(self.policy),
            ("GET", "/policy/edit"): self._view(self.editor),
            ("POST", "/policy/edit"): self._change(self.editor_post),
            ("POST", "/policy/validate"): self.validate,
            ("GET", "/account"): self._view(self.account),
            ("POST", "/account/credential-report"): self._change(self.credential_report),
            ("GET", "/access"): self._view(self.access),
            ("GET", "/access/role"): self._view(self.access_role),
            ("GET", "/access/user"): self._view(self.access_user),
            ("POST", "/do"): self._change(self.do),
        }

    # -- plumbing ------------------------------------------

    def _signed_in(self, page: Page) -> tuple[ConsoleSession, Caller] | Reply:
        if page.active is None:
            active = self.console._active(page)
            if isinstance(active, Reply):
                return active
            page.active = active
        session, identity = page.active
        return session, page.caller(identity)

    def _view(self, build: View) -> Callable[[Page], Reply]:
        """A GET page: signed in, the query parsed, a refused read shown as "Not allowed"."""
        return lambda page: self._show(page, build)

    def _change(self, run: Change) -> Callable[[Page], Reply]:
        """A form POST: signed in, its CSRF token checked."""

        def route(page: Page) -> Reply:
            active = self._signed_in(page)
            if isinstance(active, Reply):
                return active
            page.check_csrf(page.form.get("csrf"))
            return run(page, *active)

        return route

    def _show(self, page: Page, build: View) -> Reply:
        active = self._signed_in(page)
        if isinstance(active, Reply):
            return active
        session, caller = active
        query = parse_form(page.request.query_string) if page.request.query_string else {}
        try:
            return build(page, session, caller, query)
        except NotAllowed as err:
            return self.not_allowed(page, err)

    def not_allowed(self, page: Page, err: NotAllowed) -> Reply:
        return page.render(
            "admin/not_allowed.html",
            status=403,
            action=err.action,
            detail=err.message,
            **self._flash(page),
        )

    def _flash_name(self, page: Page) -> str:
        return "__Host-iamd_flash" if page.secure else "iamd_flash"

    def _set_flash(self, page: Page, session: ConsoleSession, **data: str) -> None:
        blob = self.rt.box.encrypt(json.dumps(data).encode(), FLASH_AAD + session.id.encode())
        value = base64.urlsafe_b64encode(blob).decode().rstrip("=")
        page.set_cookies.append(cookie(self._flash_name(page), value, secure=page.secure, max_age=FLASH_SECONDS))

    def _flash(self, page: Page) -> dict[str, Any]:
        """What the last change said (notice, error, a new key's secret): shown once, then gone."""
        out: dict[str, Any] = {"notice": None, "error": None, "secret": None}
        value = page.cookies.get(self._flash_name(page))
        if not value or page.active is None:
            return out
        page.set_cookies.append(expired_cookie(self._flash_name(page), secure=page.secure))
        session, _ = page.active
        try:
            blob = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            data = json.loads(self.rt.box.decrypt(blob, FLASH_AAD + session.id.encode()))
        except Exception:  # a stale or foreign cookie says nothing
            return out
        if isinstance(data, dict):
            out.update({k: data.get(k) for k in ("notice", "error", "secret", "access_key_id")})
        return out

    def _came_from(self, page: Page) -> str | None:
        """The console page a refused change was posted from (where its error is shown)."""
        referer = page.request.header("referer") or ""
        if not referer.startswith(page.origin + P + "/"):
            return None
        return referer[len(page.origin) :]

    def _render(self, page: Page, template: str, **values: Any) -> Reply:
        return page.render(template, **{**self._flash(page), **values})

    # -- changes ------------------------------------------

    def do(self, page: Page, session: ConsoleSession, caller: Caller) -> Reply:
        form = dict(page.form)
        op = OPS.get(form.get("op", ""))
        if op is None:
            return page.go(P + "/home")
        for name in BOOLEAN_FIELDS & set(op.fields):
            form[name] = "true" if form.get(name) in ("true", "on") else ""
        # a form that states the whole thing means false by an unticked box: the password policy (replaced
        # whole), and a new password (its "require a new password" box); the lone "require" button does not
        if op.action == "UpdateAccountPasswordPolicy" or (op.action == "UpdateLoginProfile" and form.get("Password")):
            for name in BOOLEAN_FIELDS & set(op.fields):
                form[name] = form[name] or "false"
        back, refused = _back(op.back, form), self._came_from(page) or _back(op.back, form)
        if form.get("confirm_name") is not None and form["confirm_name"] != form.get(op.fields[0], ""):
            self._set_flash(page, session, error="The name you typed does not match; nothing was deleted.")
            return page.go(refused)
        try:
            result = admin.run(caller, op, form)
        except NotAllowed as err:
            self._set_flash(page, session, error=f"Not allowed: you may not perform {err.action} here. {err.message}")
            return page.go(refused)
        except AwsError as err:
            self._set_flash(page, session, error=err.message or err.code)
            return page.go(refused)
        key = result.get("AccessKey")
        if key is not None:  # shown once, on the next page, never stored in the clear
            self._set_flash(
                page,
                session,
                notice=_say(op.notice, form),
                secret=str(key["SecretAccessKey"]),
                access_key_id=str(key["AccessKeyId"]),
            )
        else:
            self._set_flash(page, session, notice=_say(op.notice, form))
        return page.go(back)

    # -- users ------------------------------------------

    def users(self, page: Page, session: ConsoleSession, caller: Caller, q: dict[str, str]) -> Reply:
        found = admin.listing(caller, "ListUsers", "Users", q)
        rows = [(u, admin.user_summary(caller, u)) for u in found.items]
        return self._render(
            page, "admin/users.html", listing=found, rows=rows, q=q.get("q", ""), now=self.rt.clock.time()
        )

    def user(self, page: Page, session: ConsoleSession, caller: Caller, q: dict[str, str]) -> Reply:
        detail = admin.user_detail(caller, q.get("name", ""))
        return self._render(page, "admin/user.html", now=self.rt.clock.time(), **detail)

    # -- groups and roles ------------------------------------------

    def groups(self, page: Page, session: ConsoleSession, caller: Caller, q: dict[str, str]) -> Reply:
        found = admin.listing(caller, "ListGroups", "Groups", q)
        return self._render(page, "admin/groups.html", listing=found, q=q.get("q", ""))

    def group(self, page: Page, session: ConsoleSession, caller: Caller, q: dict[str, str]) -> Reply:
        return self._render(page, "admin/group.html", **admin.group_detail(caller, q.get("name", "")))

    def roles(self, page: Page, session: ConsoleSession, caller: Caller, q: dict[str, str]) -> Reply:
        found = admin.listing(caller, "ListRoles", "Roles", q)
        return self._render(page, "admin/roles.html", listing=found, q=q.get("q", ""))

    def role(self, page: Page, session: ConsoleSession, caller: Caller, q: dict[str, str]) -> Reply:
        detail = admin.role_detail(caller, q.get("name", ""))
        return self._render(page, "admin/role.html", account=session.account_id, **detail)

    # -- policies ------------------------------------------

    def policies(self, page: Page, session: ConsoleSession, caller: Caller, q: dict[str, str]) -> Reply:
        scope = q.get("scope", "Local") if q.get("scope") in ("Local", "AWS", "All") else "Local"
        found = admin.listing(caller, "ListPolicies", "Policies", q, {"Scope": scope})
        return self._render(page, "admin/policies.html", listing=found, q=q.get("q", ""), scope=scope)

    def policy(self, page: Page, session: ConsoleSession, caller: Caller, q: dict[str, str]) -> Reply:
        arn = q.get("arn", "")
        detail = admin.policy_detail(caller, arn)
        shown = q.get("version") or str(detail["policy"].get("DefaultVersionId", "v1"))
        document = admin.policy_version(caller, arn, shown)
        diff = None
        if q.get("from") and q.get("to"):
            diff = access.diff(admin.policy_version(caller, arn, q["from"]), admin.policy_version(caller, arn, q["to"]))
        return self._render(
            page,
            "admin/policy.html",
            arn=arn,
            shown=shown,
            document=access.pretty(document),
            diff=diff,
            diff_from=q.get("from", ""),
            diff_to=q.get("to", ""),
            **detail,
        )

    # -- the editor ------------------------------------------

    def editor(self, page: Page, session: ConsoleSession, caller: Caller, q: dict[str, str]) -> Reply:
        target = q.get("target", "new-policy")
        if target not in EDITOR_TARGETS:
            target = "new-policy"
        values = {k: v for k, v in q.items() if k not in ("target",)}
        document = STARTER if EDITOR_KIND.get(target) != "trust" else TRUST_STARTER
        document = document.replace("ACCOUNT", session.account_id)
        if target == "new-version" and q.get("PolicyArn"):
            policy = admin.call(caller, "GetPolicy", {"PolicyArn": q["PolicyArn"]})["Policy"]
            document = admin.policy_version(caller, q["PolicyArn"], str(policy["DefaultVersionId"]))
        elif target in ("user", "group", "role") and q.get("PolicyName"):
            owner = q.get({"user": "UserName", "group": "GroupName", "role": "RoleName"}[target], "")
            try:
                document = admin.inline_document(caller, target, owner, q["PolicyName"])
            except AwsError as err:
                if err.code != "NoSuchEntity":
                    raise
        elif target == "trust" and q.get("RoleName"):
            role = admin.call(caller, "GetRole", {"RoleName": q["RoleName"]})["Role"]
            document = str(role["AssumeRolePolicyDocument"])
        return self._editor_page(page, target, values, access.pretty(document))

    def _editor_page(
        self,
        page: Page,
        target: str,
        values: dict[str, str],
        document: str,
        status: int = 200,
        error: str | None = None,
        simulation: access.Simulation | None = None,
    ) -> Reply:
        flash = self._flash(page)
        caller = page.caller(page.signed_in_as[1])
        return page.render(
            "admin/editor.html",
            principal_choices=admin.principal_arns(caller),
            status=status,
            target=target,
            kind=EDITOR_KIND.get(target, target),
            values=values,
            document=document,
            simulation=simulation,
            **{**flash, "error": error or flash["error"]},
        )

    def editor_post(self, page: Page, session: ConsoleSession, caller: Caller) -> Reply:
        form = dict(page.form)
        target = form.get("target", "")
        op = EDITOR_TARGETS.get(target)
        if op is None:
            return page.go(P + "/policies")
        document = form.get("document", "")
        values = {k: form.get(k, "") for k in op.fields if "Document" not in k and k != "SetAsDefault"}
        if form.get("intent") == "simulate":
            try:
                simulation = access.simulate(
                    caller,
                    document,
                    EDITOR_KIND.get(target, target),
                    form.get("sim_principal", "").strip(),
                    _split(form.get("sim_actions", "")),
                    _split(form.get("sim_resources", "")),
                )
            except NotAllowed as err:
                return self._editor_page(page, target, values, document, 403, f"Not allowed: {err.message}")
            except AwsError as err:
                return self._editor_page(page, target, values, document, err.status, err.message)
            return self._editor_page(page, target, values, document, simulation=simulation)
        params = {**form, "PolicyDocument": document, "AssumeRolePolicyDocument": document, "SetAsDefault": "true"}
        try:
            result = admin.run(caller, op, params)
        except NotAllowed as err:
            return self._editor_page(page, target, values, document, 403, f"Not allowed: {err.message}")
        except AwsError as err:  # keep the draft: show the editor again with IAM's message
            return self._editor_page(page, target, values, document, err.status, err.message)
        if target == "new-policy":
            back = _back(_POL, {"PolicyArn": str(result["Policy"]["Arn"])})
        else:
            back = _back(op.back, form)
        self._set_flash(page, session, notice=_say(op.notice, form))
        return page.go(back)

    def validate(self, page: Page) -> Reply:
        """The editor's as-you-type check (JSON): IAM's validator, pinned to a line and column."""
        active = self._signed_in(page)
        if isinstance(active, Reply):
            return page.json({"error": "Sign in again."}, 401)
        page.check_csrf(page.request.header("x-csrf-token"))
        body = json_body(page.request)
        finding = policy_check.check(str(body.get("document", "")), str(body.get("kind", "managed")))
        return page.json(
            {
                "ok": finding.ok,
                "message": finding.message,
                "code": finding.code,
                "line": finding.line,
                "column": finding.column,
            }
        )

    # -- account ------------------------------------------

    def account(self, page: Page, session: ConsoleSession, caller: Caller, q: dict[str, str]) -> Reply:
        return self._render(
            page,
            "admin/account.html",
            account_id=session.account_id,
            summary=admin.section(caller, "GetAccountSummary"),
            aliases=admin.section(caller, "ListAccountAliases"),
            password_policy=admin.section(caller, "GetAccountPasswordPolicy"),
        )

    def credential_report(self, page: Page, session: ConsoleSession, caller: Caller) -> Reply:
        try:
            admin.call(caller, "GenerateCredentialReport")  # reuses a report younger than four hours
            report = admin.call(caller, "GetCredentialReport")
        except NotAllowed as err:
            self._set_flash(page, session, error=f"Not allowed: you may not perform {err.action}. {err.message}")
            return page.go(P + "/account")
        except AwsError as err:  # not ready yet (AWS generates reports in the background)
            self._set_flash(page, session, notice=f"The credential report is not ready yet: {err.message}")
            return page.go(P + "/account")
        content = report["Content"]
        body = content if isinstance(content, bytes) else str(content).encode()
        reply = Reply(200, body, "text/csv; charset=utf-8", set_cookies=page.set_cookies)
        reply.extra.append(("content-disposition", 'attachment; filename="credential-report.csv"'))
        return reply

    # -- who can do what ------------------------------------------

    def access(self, page: Page, session: ConsoleSession, caller: Caller, q: dict[str, str]) -> Reply:
        principals = access.principals(caller)
        arn = q.get("arn", "")
        report = access.effective(self.rt, caller, principals, arn) if arn else None
        options = [("", "Choose…")] + [
            (e.arn, f"{e.kind} {e.name}") for e in principals.users + principals.groups + principals.roles
        ]
        return self._render(
            page, "admin/access.html", principals=principals, arn=arn, report=report, access_options=options
        )

    def access_role(self, page: Page, session: ConsoleSession, caller: Caller, q: dict[str, str]) -> Reply:
        return self._graph(page, caller, q, "role", "Who can assume a role", access.who_can_assume)

    def access_user(self, page: Page, session: ConsoleSession, caller: Caller, q: dict[str, str]) -> Reply:
        return self._graph(page, caller, q, "user", "Roles a user can reach", access.reachable_roles)

    def _graph(
        self,
        page: Page,
        caller: Caller,
        q: dict[str, str],
        kind: str,
        heading: str,
        draw: Callable[[Runtime, Principals, str], Graph | None],
    ) -> Reply:
        principals = access.principals(caller)
        name = q.get("name", "")
        graph = draw(self.rt, principals, name) if name else None
        choices = principals.roles if kind == "role" else principals.users
        return self._render(
            page, "admin/access_graph.html", kind=kind, heading=heading, choices=choices, name=name, graph=graph
        )
