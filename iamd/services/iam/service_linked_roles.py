"""Service-linked roles: roles a service (from a configured list) creates and alone may change."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from iamd.core.errors import InvalidInput, NoSuchEntity
from iamd.services.context import RequestContext
from iamd.services.iam import common as c
from iamd.services.iam.roles import delete_role_row, insert_role, role_output
from iamd.services.registry import operation
from iamd.store import tables as t

_KNOWN_NAMES = {
    "autoscaling.amazonaws.com": "AutoScaling",
    "elasticloadbalancing.amazonaws.com": "ElasticLoadBalancing",
    "ecs.amazonaws.com": "ECS",
    "rds.amazonaws.com": "RDS",
    "lambda.amazonaws.com": "Lambda",
    "ec2.amazonaws.com": "EC2",
}


def role_suffix(service: str) -> str:
    if service in _KNOWN_NAMES:
        return _KNOWN_NAMES[service]
    head = service.split(".amazonaws.com")[0].split(".")[0]
    return "".join(part[:1].upper() + part[1:] for part in head.replace("_", "-").split("-") if part)


def trust_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": [service]}, "Action": ["sts:AssumeRole"]}],
        }
    )


@operation("iam", "CreateServiceLinkedRole")
def create_service_linked_role(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    service: str = p["AWSServiceName"]
    if service not in ctx.settings.service_linked_principals:
        raise InvalidInput(
            f"Service name {service} is not eligible for service-linked roles. "
            "The list of eligible services is set by the iamd operator (IAMD_SERVICE_LINKED_PRINCIPALS)."
        )
    name = f"AWSServiceRoleFor{role_suffix(service)}"
    if p.get("CustomSuffix"):
        name = f"{name}_{p['CustomSuffix']}"
    row = insert_role(
        ctx,
        name=name,
        path=f"/aws-service-role/{service}/",
        trust_policy=trust_policy(service),
        description=p.get("Description"),
        service_linked=True,
    )
    return {"Role": role_output(ctx, row)}


@operation("iam", "DeleteServiceLinkedRole")
def delete_service_linked_role(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = c.get_role(ctx, p["RoleName"])
    if not row.service_linked:
        raise InvalidInput(f"Role {row.name} is not a service-linked role.")
    service = row.path.strip("/").split("/", 1)[-1]
    task_id = f"task/aws-service-role/{service}/{row.name}/{uuid.uuid4()}"
    delete_role_row(ctx, row)
    ctx.conn.execute(
        t.deletion_tasks.insert().values(
            id=task_id, account_id=ctx.account_id, status="SUCCEEDED", created_at=ctx.now()
        )
    )
    return {"DeletionTaskId": task_id}


@operation("iam", "GetServiceLinkedRoleDeletionStatus")
def get_service_linked_role_deletion_status(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    dt = t.deletion_tasks
    row = ctx.conn.execute(
        sa.select(dt).where(dt.c.id == p["DeletionTaskId"], dt.c.account_id == ctx.account_id)
    ).first()
    if row is None:
        raise NoSuchEntity(f"Deletion task {p['DeletionTaskId']} cannot be found.")
    return {"Status": row.status}
