"""``iam:PassRole``: may a principal hand a role to a service?

When a user configures a service with a role ("run my backups as role X"), the service must not take
the user's word for it: it asks iamd whether that user may pass that role to it.  The question is the
action ``iam:PassRole`` on the role's ARN, with ``iam:PassedToService`` (the service principal) and,
when given, ``iam:AssociatedResourceArn`` (the resource the role will be used for), decided by the
engine with the principal's policies, boundary, session policies and organization levels, exactly as
an API call by that principal would be.  AWS also refuses a role of another account: a role can only
be passed within its own account.

Principals are named by ARN: an IAM user (``arn:aws:iam::ACCOUNT:user/PATH/NAME``), the account root
(``arn:aws:iam::ACCOUNT:root``) or a role (``arn:aws:iam::ACCOUNT:role/PATH/NAME``: a session of it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from iamd.core.arn import iam_arn, root_arn, split_iam_resource, try_parse
from iamd.core.principal import Principal, PrincipalKind
from iamd.policy import Decision, Effect, access_denied_message
from iamd.services.authz import Authorizer
from iamd.store import tables as t

ACTION = "iam:PassRole"


class PassRoleError(Exception):
    """The question cannot be asked: an unknown principal or role, or a malformed ARN."""


_DECISIONS = {Effect.ALLOW: "allowed", Effect.EXPLICIT_DENY: "explicitDeny", Effect.IMPLICIT_DENY: "implicitDeny"}


def _entity(conn: Connection, table: sa.Table, account: str, path: str, name: str) -> Row[Any]:
    """The user or role ``path``/``name`` of ``account`` (names compare as IAM compares them)."""
    row = conn.execute(
        sa.select(table).where(table.c.account_id == account, table.c.name_key == name.lower(), table.c.path == path)
    ).first()
    if row is None or row.name != name:
        raise PassRoleError(f"there is no {table.name[:-1]} {path}{name} in account {account}")
    return row


def principal_of(conn: Connection, partition: str, arn: str) -> Principal:
    """The principal an ARN names (see the module's docstring)."""
    parsed = try_parse(arn)
    if parsed is None or parsed.service != "iam" or parsed.partition != partition or not parsed.account:
        raise PassRoleError(f"{arn} is not the ARN of an IAM user, role or account root of this partition")
    account = parsed.account
    if parsed.resource == "root":
        if conn.execute(sa.select(t.accounts.c.id).where(t.accounts.c.id == account)).first() is None:
            raise PassRoleError(f"no account {account}")
        return Principal(PrincipalKind.ROOT, account, root_arn(partition, account), account, account, "")
    kind, path, name = split_iam_resource(parsed.resource)
    if kind == "user":
        row = _entity(conn, t.users, account, path, name)
        user_arn = iam_arn(partition, account, "user", row.path, row.name)
        return Principal(PrincipalKind.USER, account, user_arn, row.id, row.name, "", entity_id=row.id)
    if kind == "role":
        row = _entity(conn, t.roles, account, path, name)
        session = f"arn:{partition}:sts::{account}:assumed-role/{row.name}/pass-role-check"
        return Principal(
            PrincipalKind.ASSUMED_ROLE,
            account,
            session,
            f"{row.id}:pass-role-check",
            row.name,
            "",
            entity_id=row.id,
            session_name="pass-role-check",
        )
    raise PassRoleError(f"{arn} is not the ARN of an IAM user, role or account root")


def check_pass_role(
    conn: Connection,
    authorizer: Authorizer,
    partition: str,
    principal_arn: str,
    role_arn: str,
    service: str,
    associated_resource: str | None = None,
) -> dict[str, Any]:
    """May ``principal_arn`` pass ``role_arn`` to ``service``?  ``Allowed`` (bool), ``Decision``
    (``allowed``, ``explicitDeny`` or ``implicitDeny``) and ``Message``."""
    caller = principal_of(conn, partition, principal_arn)
    parsed = try_parse(role_arn)
    if parsed is None or parsed.service != "iam" or not parsed.resource.startswith("role/"):
        raise PassRoleError(f"{role_arn} is not a role ARN")
    _, path, name = split_iam_resource(parsed.resource)
    role = _entity(conn, t.roles, parsed.account, path, name)
    resource = iam_arn(partition, parsed.account, "role", role.path, role.name)
    if parsed.account != caller.account_id:
        message = f"{caller.arn} cannot pass {resource}: a role can be passed only within its own account"
        return _answer(Effect.IMPLICIT_DENY, message)
    context: dict[str, str | Sequence[str]] = {"iam:PassedToService": service}
    if associated_resource:
        context["iam:AssociatedResourceArn"] = associated_resource
    decision: Decision = authorizer.decide(caller, ACTION, resource, context)
    if decision.effect is Effect.ALLOW:
        return _answer(Effect.ALLOW, f"{caller.arn} may pass {resource} to {service}")
    return _answer(decision.effect, access_denied_message(caller.arn, ACTION, resource, decision))


def _answer(effect: Effect, message: str) -> dict[str, Any]:
    return {"Allowed": effect is Effect.ALLOW, "Decision": _DECISIONS[effect], "Message": message}
