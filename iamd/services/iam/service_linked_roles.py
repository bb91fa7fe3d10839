"""Service-linked roles: roles that an AWS service (or an operator's own service) owns.

The services AWS accepts, with the role name AWS gives each and whether it takes a
CustomSuffix, are data: ``service_linked_roles.json`` beside this module.  Which principals a
deployment accepts is ``Settings.service_linked_principals`` (``IAMD_SERVICE_LINKED_PRINCIPALS``):
the token ``aws`` stands for that whole list, any other entry is one more principal (an
operator's own service, named generically: ``my-batch.amazonaws.com`` ->
``AWSServiceRoleForMyBatch``, custom suffixes allowed).  The default is ``aws,iamd.internal``.

A service-linked role lives under ``/aws-service-role/<service>/``, trusts only its service,
gets the AWS managed policies AWS attaches to it (those iamd's catalogue has) and is protected
by ``iamd.services.iam.guards``.  Deletion is immediate: the deletion task is recorded as
``SUCCEEDED`` so that GetServiceLinkedRoleDeletionStatus answers as AWS does once done.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from iamd.core.arn import iam_arn
from iamd.core.errors import InvalidInput, NoSuchEntity
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.iam.guards import AWS_ACCOUNT, SERVICE_ROLE_PATH
from iamd.services.iam.roles import DEFAULT_SESSION, delete_role_row, insert_role, role_output
from iamd.services.registry import operation
from iamd.services.targets import Target, TargetQuery, any_resource, aws_service_name, existing, first
from iamd.store import tables as t

ROLE_PREFIX = "AWSServiceRoleFor"
PATH_PREFIX = SERVICE_ROLE_PATH
MAX_ROLE_NAME = 64
AWS_SERVICES = "aws"
"""The token in ``Settings.service_linked_principals`` that stands for every AWS service."""
_CATALOGUE = Path(__file__).with_name("service_linked_roles.json")
_DOMAIN_SUFFIXES = (".amazonaws.com.cn", ".amazonaws.com", ".amazon.com")


@dataclass(frozen=True, slots=True)
class LinkedService:
    """How AWS makes the service-linked role of one service principal."""

    role_name: str
    custom_suffix: bool = False
    policies: tuple[str, ...] = ()
    """AWS managed policies attached to the role, as ``path/name`` under ``policy/``."""


@functools.cache
def aws_services() -> Mapping[str, LinkedService]:
    """The service principals AWS accepts in CreateServiceLinkedRole (service_linked_roles.json)."""
    data = json.loads(_CATALOGUE.read_text())
    return {
        principal: LinkedService(
            role_name=entry["role_name"],
            custom_suffix=bool(entry.get("custom_suffix", False)),
            policies=tuple(entry.get("policies", ())),
        )
        for principal, entry in data["services"].items()
    }


def linked_service(configured: Sequence[str], service: str) -> LinkedService | None:
    """The service as this deployment accepts it, or None when it is not eligible."""
    if AWS_SERVICES in configured or service in configured:
        known = aws_services().get(service)
        if known is not None:
            return known
    if service in configured:
        return LinkedService(role_name=ROLE_PREFIX + role_suffix(service), custom_suffix=True)
    return None


def role_suffix(service: str) -> str:
    """The generic ``<Service>`` part of ``AWSServiceRoleFor<Service>`` for an operator's principal.

    Labels are CamelCased, most significant first (``worker.batch-jobs.amazonaws.com`` ->
    ``BatchJobsWorker``); AWS's own services take their names from the catalogue instead.
    """
    head = service
    for suffix in _DOMAIN_SUFFIXES:
        if head.endswith(suffix):
            head = head[: -len(suffix)]
            break
    else:
        labels = head.split(".")
        if len(labels) > 1:  # "svc.internal": drop the domain label
            head = ".".join(labels[:-1])
    words = [word for label in reversed(head.split(".")) for word in label.replace("_", "-").split("-") if word]
    return "".join(word[:1].upper() + word[1:] for word in words) or "Service"


def role_name(service: str, custom_suffix: str | None = None) -> str:
    """The role's name: AWS's for its services, the generic one otherwise, ``_<suffix>`` appended."""
    known = aws_services().get(service)
    name = known.role_name if known is not None else ROLE_PREFIX + role_suffix(service)
    return f"{name}_{custom_suffix}" if custom_suffix else name


def trust_policy(service: str) -> str:
    """The trust policy AWS writes: the service alone may assume the role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def service_of(row: Any) -> str:
    """The service principal of a service-linked role (from its ``/aws-service-role/<service>/`` path)."""
    path: str = row.path
    if path.startswith(PATH_PREFIX):
        return path[len(PATH_PREFIX) :].strip("/")
    return path.strip("/")


def _attach_policies(ctx: OperationContext, role_id: str, policies: Sequence[str]) -> None:
    """Attach the AWS managed policies AWS attaches to the role, those iamd's catalogue holds."""
    mp, pa = t.managed_policies, t.policy_attachments
    for policy in policies:
        arn = f"arn:{ctx.partition}:iam::{AWS_ACCOUNT}:policy/{policy}"
        row = ctx.conn.execute(sa.select(mp.c.id).where(mp.c.arn == arn, mp.c.account_id == AWS_ACCOUNT)).first()
        if row is not None:
            ctx.conn.execute(pa.insert().values(policy_id=row.id, principal_type="role", principal_id=role_id))


def _linked_role(q: TargetQuery) -> Target:
    """The ARN the service-linked role will have (AWS: resource type ``role``)."""
    service = str(q.params["AWSServiceName"])
    name = role_name(service, q.params.get("CustomSuffix") or None)
    return Target(iam_arn(q.partition, q.account, "role", f"{PATH_PREFIX}{service}/", name))


def _deletion_task_role(q: TargetQuery) -> Target | None:
    """The role a deletion task id (``task/aws-service-role/<service>/<role>/<uuid>``) names."""
    task_id = str(q.params.get("DeletionTaskId") or "")
    head, _, _ = task_id.rpartition("/")
    if not head.startswith("task" + PATH_PREFIX):
        return None
    path, _, name = head[len("task") :].rpartition("/")
    return Target(iam_arn(q.partition, q.account, "role", path + "/", name)) if name else None


@operation("iam", "CreateServiceLinkedRole", target=_linked_role, request_keys=(aws_service_name,))
def create_service_linked_role(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    service: str = p["AWSServiceName"]
    linked = linked_service(ctx.identity.service_linked_principals, service)
    if linked is None:
        raise InvalidInput(f"Service name {service} is not eligible for service-linked roles.")
    suffix: str | None = p.get("CustomSuffix") or None
    if suffix and not linked.custom_suffix:
        raise InvalidInput(f"Custom suffix is not allowed for {service}")
    name = f"{linked.role_name}_{suffix}" if suffix else linked.role_name
    if len(name) > MAX_ROLE_NAME:
        raise InvalidInput(
            f"The role name {name} is longer than {MAX_ROLE_NAME} characters; please use a shorter suffix."
        )
    if c.find_named(ctx, t.roles, name) is not None:
        raise InvalidInput(f"Service role name {name} has been taken in this account, please try a different suffix.")
    row = insert_role(
        ctx,
        name=name,
        path=f"{PATH_PREFIX}{service}/",
        trust_policy=trust_policy(service),
        description=p.get("Description"),
        max_session_duration=DEFAULT_SESSION,
        service_linked=True,
    )
    _attach_policies(ctx, row.id, linked.policies)
    return {"Role": role_output(ctx, row)}


@operation("iam", "DeleteServiceLinkedRole", target=existing("role", "RoleName"))
def delete_service_linked_role(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = c.get_role(ctx, p["RoleName"])
    if not row.service_linked:
        raise InvalidInput(f"Role {row.name} is not a service-linked role and cannot be deleted with this action.")
    task_id = f"task{PATH_PREFIX}{service_of(row)}/{row.name}/{uuid.uuid4()}"
    delete_role_row(ctx, row)
    ctx.conn.execute(
        t.deletion_tasks.insert().values(
            id=task_id, account_id=ctx.account_id, status="SUCCEEDED", reason=None, created_at=ctx.now()
        )
    )
    return {"DeletionTaskId": task_id}


@operation("iam", "GetServiceLinkedRoleDeletionStatus", target=first(_deletion_task_role, any_resource))
def get_service_linked_role_deletion_status(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    dt = t.deletion_tasks
    task_id: str = p["DeletionTaskId"]
    row = ctx.conn.execute(sa.select(dt).where(dt.c.id == task_id, dt.c.account_id == ctx.account_id)).first()
    if row is None:
        raise NoSuchEntity(f"Deletion task {task_id} cannot be found.")
    out: dict[str, Any] = {"Status": row.status}
    if row.status == "FAILED" and row.reason:
        out["Reason"] = {"Reason": row.reason}
    return out
