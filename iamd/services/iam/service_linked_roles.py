"""Service-linked roles: roles that a service (from the operator's list) owns.

The eligible service principals are ``Settings.service_linked_principals``
(``IAMD_SERVICE_LINKED_PRINCIPALS``).  A service-linked role is named
``AWSServiceRoleFor<Service>[_<CustomSuffix>]``, lives under ``/aws-service-role/<service>/``
and trusts only its service.  Deletion is immediate: the deletion task is recorded as
``SUCCEEDED`` so that GetServiceLinkedRoleDeletionStatus answers as AWS does once done.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from iamd.core.errors import InvalidInput, NoSuchEntity
from iamd.services.context import RequestContext
from iamd.services.iam import common as c
from iamd.services.iam.roles import DEFAULT_SESSION, delete_role_row, insert_role, role_output
from iamd.services.registry import operation
from iamd.store import tables as t

ROLE_PREFIX = "AWSServiceRoleFor"
PATH_PREFIX = "/aws-service-role/"
MAX_ROLE_NAME = 64

# AWS's names for the default eligible services (and a few other well-known ones); any other
# principal gets the generic CamelCase name from ``role_suffix``.
_KNOWN_NAMES = {
    "autoscaling.amazonaws.com": "AutoScaling",
    "elasticloadbalancing.amazonaws.com": "ElasticLoadBalancing",
    "ecs.amazonaws.com": "ECS",
    "rds.amazonaws.com": "RDS",
    "lambda.amazonaws.com": "Lambda",
    "ec2.amazonaws.com": "EC2",
    "iamd.internal": "Iamd",
    "spot.amazonaws.com": "EC2Spot",
    "es.amazonaws.com": "AmazonElasticsearchService",
    "elasticbeanstalk.amazonaws.com": "ElasticBeanstalk",
    "organizations.amazonaws.com": "Organizations",
    "ssm.amazonaws.com": "AmazonSSM",
    "guardduty.amazonaws.com": "AmazonGuardDuty",
    "eks.amazonaws.com": "AmazonEKS",
    "elasticache.amazonaws.com": "ElastiCache",
    "redshift.amazonaws.com": "Redshift",
    "replicator.lambda.amazonaws.com": "LambdaReplicator",
    "securityhub.amazonaws.com": "SecurityHub",
    "cloudtrail.amazonaws.com": "CloudTrail",
    "trustedadvisor.amazonaws.com": "TrustedAdvisor",
    "support.amazonaws.com": "Support",
}

_DOMAIN_SUFFIXES = (".amazonaws.com.cn", ".amazonaws.com", ".amazon.com")


def role_suffix(service: str) -> str:
    """The ``<Service>`` part of ``AWSServiceRoleFor<Service>`` for a service principal.

    Known principals use AWS's names; others are CamelCased from their labels, most
    significant first (``replicator.lambda.amazonaws.com`` -> ``LambdaReplicator``).
    """
    known = _KNOWN_NAMES.get(service)
    if known:
        return known
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
    name = ROLE_PREFIX + role_suffix(service)
    return f"{name}_{custom_suffix}" if custom_suffix else name


def trust_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": [service]}, "Action": ["sts:AssumeRole"]}],
        }
    )


def service_of(row: Any) -> str:
    """The service principal of a service-linked role (from its ``/aws-service-role/<service>/`` path)."""
    path: str = row.path
    if path.startswith(PATH_PREFIX):
        return path[len(PATH_PREFIX) :].strip("/")
    return path.strip("/")


@operation("iam", "CreateServiceLinkedRole")
def create_service_linked_role(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    service: str = p["AWSServiceName"]
    if service not in ctx.settings.identity.service_linked_principals:
        raise InvalidInput(f"Service name {service} is not eligible for service-linked roles.")
    name = role_name(service, p.get("CustomSuffix"))
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
    return {"Role": role_output(ctx, row)}


@operation("iam", "DeleteServiceLinkedRole")
def delete_service_linked_role(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
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


@operation("iam", "GetServiceLinkedRoleDeletionStatus")
def get_service_linked_role_deletion_status(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    dt = t.deletion_tasks
    task_id: str = p["DeletionTaskId"]
    row = ctx.conn.execute(sa.select(dt).where(dt.c.id == task_id, dt.c.account_id == ctx.account_id)).first()
    if row is None:
        raise NoSuchEntity(f"Deletion task {task_id} cannot be found.")
    out: dict[str, Any] = {"Status": row.status}
    if row.status == "FAILED" and row.reason:
        out["Reason"] = {"Reason": row.reason}
    return out
