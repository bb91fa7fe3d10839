"""The shipped AWS managed policies: real documents that parse, and an idempotent seed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.policy.document import PolicyKind, check_document
from iamd.services.iam import aws_managed
from iamd.store import tables as t

REQUIRED = {"AdministratorAccess", "IAMFullAccess", "IAMReadOnlyAccess", "IAMUserChangePassword"}


@pytest.fixture
def conn() -> Iterator[Connection]:
    engine = sa.create_engine("sqlite://")
    t.metadata.create_all(engine)
    with engine.begin() as connection:
        yield connection
    engine.dispose()


def _policies(conn: Connection) -> list[sa.Row[object]]:
    mp = t.managed_policies
    return list(conn.execute(sa.select(mp).order_by(mp.c.name_key)).all())


def _versions(conn: Connection) -> list[sa.Row[object]]:
    pv = t.policy_versions
    return list(conn.execute(sa.select(pv).order_by(pv.c.policy_id, pv.c.version_id)).all())


def test_required_policies_are_shipped() -> None:
    names = {p.name for p in aws_managed.load()}
    assert names >= REQUIRED
    assert "ReadOnlyAccess" not in names


@pytest.mark.parametrize("policy", aws_managed.load(), ids=lambda p: p.name)
def test_documents_are_valid_managed_policies(policy: aws_managed.AwsManagedPolicy) -> None:
    doc = check_document(policy.document, PolicyKind.MANAGED)
    assert doc["Version"] == "2012-10-17"
    assert policy.path.startswith("/") and policy.path.endswith("/")
    assert policy.default_version.startswith("v")
    assert policy.create_date is not None and policy.update_date is not None
    assert policy.create_date <= policy.update_date
    assert policy.description


def test_known_documents_and_versions() -> None:
    by_name = {p.name: p for p in aws_managed.load()}
    admin = by_name["AdministratorAccess"]
    assert json.loads(admin.document) == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    assert admin.default_version == "v1"
    assert by_name["IAMReadOnlyAccess"].default_version == "v4"
    assert by_name["IAMFullAccess"].default_version == "v2"
    change = by_name["IAMUserChangePassword"]
    assert change.path == "/"
    assert change.default_version == "v3"
    actions = [s["Action"] for s in json.loads(change.document)["Statement"]]
    assert actions == [["iam:ChangePassword"], ["iam:GetAccountPasswordPolicy"]]
    assert by_name["AWSLambdaBasicExecutionRole"].path == "/service-role/"


def test_policy_ids_are_deterministic_and_aws_shaped() -> None:
    first = aws_managed.policy_id("AdministratorAccess")
    assert first == aws_managed.policy_id("AdministratorAccess")
    assert first != aws_managed.policy_id("IAMFullAccess")
    assert first.startswith("ANPA") and len(first) == 21
    assert set(first[4:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def test_seed_inserts_every_policy_with_its_default_version(conn: Connection) -> None:
    aws_managed.seed(conn, "aws", 1_700_000_000.0)
    rows = _policies(conn)
    shipped = aws_managed.load()
    assert [r.name for r in rows] == [p.name for p in shipped]
    for row, policy in zip(rows, shipped, strict=True):
        assert row.account_id == "aws"
        assert row.id == aws_managed.policy_id(policy.name)
        assert row.arn == f"arn:aws:iam::aws:policy{policy.path}{policy.name}"
        assert row.default_version == policy.default_version
        assert row.next_version == aws_managed.version_number(policy.default_version) + 1
        assert row.is_attachable
    versions = _versions(conn)
    assert len(versions) == len(shipped)
    admin = next(r for r in rows if r.name == "AdministratorAccess")
    assert admin.arn == "arn:aws:iam::aws:policy/AdministratorAccess"
    change = next(r for r in rows if r.name == "IAMUserChangePassword")
    version = next(v for v in versions if v.policy_id == change.id)
    assert version.version_id == "v3" and version.version_number == 3


def test_seed_is_idempotent(conn: Connection) -> None:
    aws_managed.seed(conn, "aws", 1_700_000_000.0)
    before = (_policies(conn), _versions(conn))
    aws_managed.seed(conn, "aws", 1_800_000_000.0)
    aws_managed.seed(conn, "aws", 1_900_000_000.0)
    assert (_policies(conn), _versions(conn)) == before


def test_seed_repairs_changed_content(conn: Connection) -> None:
    aws_managed.seed(conn, "aws", 1_700_000_000.0)
    mp, pv = t.managed_policies, t.policy_versions
    admin_id = aws_managed.policy_id("AdministratorAccess")
    conn.execute(pv.update().where(pv.c.policy_id == admin_id).values(document='{"stale": true}'))
    conn.execute(
        pv.insert().values(policy_id=admin_id, version_id="v9", version_number=9, document="{}", created_at=1.0)
    )
    conn.execute(
        mp.update().where(mp.c.id == admin_id).values(default_version="v9", next_version=10, description="old")
    )
    aws_managed.seed(conn, "aws", 1_700_000_000.0)
    row = conn.execute(sa.select(mp).where(mp.c.id == admin_id)).one()
    assert row.default_version == "v1"
    assert row.description == "Provides full access to AWS services and resources."
    assert row.next_version == 10  # never goes back: version ids are not reused
    versions = conn.execute(sa.select(pv).where(pv.c.policy_id == admin_id)).all()
    assert [(v.version_id, json.loads(v.document)["Statement"][0]["Action"]) for v in versions] == [("v1", "*")]


def test_seed_leaves_customer_policies_alone(conn: Connection) -> None:
    conn.execute(t.accounts.insert().values(id="123456789012", name="default", created_at=1.0))
    conn.execute(
        t.managed_policies.insert().values(
            id="ANPACUSTOMER000000001",
            account_id="123456789012",
            name="AdministratorAccess",
            name_key="administratoraccess",
            path="/",
            arn="arn:aws:iam::123456789012:policy/AdministratorAccess",
            created_at=1.0,
            updated_at=1.0,
            default_version="v1",
            next_version=2,
        )
    )
    aws_managed.seed(conn, "aws", 1_700_000_000.0)
    rows = [r for r in _policies(conn) if r.name == "AdministratorAccess"]
    assert sorted(r.account_id for r in rows) == ["123456789012", "aws"]


def test_seed_uses_the_partition(conn: Connection) -> None:
    aws_managed.seed(conn, "aws-cn", 1_700_000_000.0)
    arns = {r.arn for r in _policies(conn)}
    assert "arn:aws-cn:iam::aws:policy/AdministratorAccess" in arns
