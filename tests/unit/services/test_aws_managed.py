"""The shipped AWS managed policies: real documents our grammar accepts, and a cheap, safe seed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.policy.compile import compile_policy
from iamd.policy.grammar import PolicyKind, parse_policy
from iamd.services.iam import aws_managed
from iamd.services.iam.aws_managed.merge import MergeConflict
from iamd.store import tables as t

JOB_FUNCTIONS = {
    "AWSManagementConsoleAdministratorAccess",
    "Billing",
    "DataScientist",
    "DatabaseAdministrator",
    "NetworkAdministrator",
    "SupportUser",
    "SystemAdministrator",
    "ViewOnlyAccess",
}
REQUIRED = {
    "AdministratorAccess",
    "PowerUserAccess",
    "ReadOnlyAccess",
    "SecurityAudit",
    "AWSSupportAccess",
    "IAMFullAccess",
    "IAMReadOnlyAccess",
    "IAMUserChangePassword",
    "AmazonEC2FullAccess",
    "AmazonS3ReadOnlyAccess",
    "AmazonDynamoDBFullAccess",
    "AWSLambdaBasicExecutionRole",
    "AWSLambdaVPCAccessExecutionRole",
    "AmazonECSTaskExecutionRolePolicy",
    "AmazonEC2ContainerServiceforEC2Role",
    "AmazonSSMManagedInstanceCore",
    "AWSGlueServiceRole",
    "AmazonEKSClusterPolicy",
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AWSKeyManagementServicePowerUser",
    "AWSOrganizationsFullAccess",
    "AWSOrganizationsReadOnlyAccess",
    "AWSSSOReadOnly",
    "AWSBillingReadOnlyAccess",
    *JOB_FUNCTIONS,
}
LEGACY_ADMIN_ID = "ANPAJ3VJIJW4KVYWN3PSG"  # an id the previous release derived from the name
SHIPPED = aws_managed.load()
BY_NAME = {p.name: p for p in SHIPPED}


@pytest.fixture
def conn() -> Iterator[Connection]:
    engine = sa.create_engine("sqlite://")
    sa.event.listen(engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA foreign_keys=ON"))
    t.metadata.create_all(engine)
    with engine.begin() as connection:
        yield connection
    engine.dispose()


def _policies(conn: Connection) -> list[sa.Row[object]]:
    mp = t.managed_policies
    return list(conn.execute(sa.select(mp).order_by(mp.c.name_key)).all())


def _versions(conn: Connection, policy_id: str | None = None) -> list[sa.Row[object]]:
    pv = t.policy_versions
    query = sa.select(pv).order_by(pv.c.policy_id, pv.c.version_number.desc())
    if policy_id is not None:
        query = query.where(pv.c.policy_id == policy_id)
    return list(conn.execute(query).all())


def _count_statements(conn: Connection) -> list[str]:
    seen: list[str] = []
    sa.event.listen(conn, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


# --- the catalogue ------------------------------------------------------------------------------


def test_the_commonly_used_policies_are_shipped() -> None:
    names = set(BY_NAME)
    assert names >= REQUIRED, REQUIRED - names
    assert {p.name for p in SHIPPED if p.path == "/job-function/"} == JOB_FUNCTIONS
    assert 60 <= len(SHIPPED) <= 130


@pytest.mark.parametrize("policy", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_document_passes_our_grammar(policy: aws_managed.AwsManagedPolicy) -> None:
    parse_policy(policy.document, PolicyKind.MANAGED)
    compile_policy(policy.document, policy_id=policy.name, kind=PolicyKind.MANAGED)
    assert json.loads(policy.document)["Version"] == "2012-10-17"


@pytest.mark.parametrize("policy", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_policy_carries_aws_metadata(policy: aws_managed.AwsManagedPolicy) -> None:
    assert policy.policy_id.startswith("ANPA") and len(policy.policy_id) == 21
    assert policy.partition == "aws"
    assert policy.path in ("/", "/job-function/", "/service-role/")
    assert [v.version_id for v in policy.versions] == [policy.default_version]
    assert policy.create_date is not None and policy.update_date is not None
    assert policy.create_date <= policy.update_date
    assert policy.default.create_date == policy.update_date
    assert policy.description and policy.is_attachable


def test_ids_and_arns_are_unique() -> None:
    assert len({p.policy_id for p in SHIPPED}) == len(SHIPPED)
    assert len({p.arn("aws") for p in SHIPPED}) == len(SHIPPED)


def test_known_policies_are_the_real_ones() -> None:
    admin = BY_NAME["AdministratorAccess"]
    assert json.loads(admin.document) == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    assert (admin.policy_id, admin.default_version) == ("ANPAIWMBCKSKIEE64ZLYK", "v1")
    assert admin.description == "Provides full access to AWS services and resources."
    read_only = BY_NAME["ReadOnlyAccess"]
    assert read_only.policy_id == "ANPAILL3HVNFSB6DCOWYQ"
    assert read_only.arn("aws") == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    view_only = BY_NAME["ViewOnlyAccess"]
    assert view_only.arn("aws") == "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"
    assert view_only.policy_id == "ANPAID22R6XPJATWOFDK6"
    change = BY_NAME["IAMUserChangePassword"]
    assert change.default_version == "v5"
    actions = [s["Action"] for s in json.loads(change.document)["Statement"]]
    assert actions == [["iam:ChangePassword"], ["iam:GetAccountPasswordPolicy"]]
    assert BY_NAME["AWSLambdaBasicExecutionRole"].arn("aws-cn") == (
        "arn:aws-cn:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    )


def test_the_fingerprint_names_catalogue_and_partition() -> None:
    assert aws_managed.fingerprint("aws") == aws_managed.fingerprint("aws")
    assert aws_managed.fingerprint("aws") != aws_managed.fingerprint("aws-cn")


# --- seeding --------------------------------------------------------------------------------------


def test_seed_inserts_every_policy_with_its_real_id_and_default_version(conn: Connection) -> None:
    report = aws_managed.seed(conn, "aws", 1_700_000_000.0)
    assert report is not None and len(report.added) == len(SHIPPED)
    rows = _policies(conn)
    assert [r.name for r in rows] == [p.name for p in SHIPPED]
    for row, policy in zip(rows, SHIPPED, strict=True):
        assert row.account_id == "aws"
        assert row.id == policy.policy_id
        assert row.arn == policy.arn("aws")
        assert row.default_version == policy.default_version
        assert row.next_version == policy.version_number + 1
        assert row.created_at == policy.create_date and row.updated_at == policy.update_date
        assert row.is_attachable
    versions = _versions(conn)
    assert len(versions) == len(SHIPPED)
    change = BY_NAME["IAMUserChangePassword"]
    (version,) = _versions(conn, change.policy_id)
    assert (version.version_id, version.version_number) == ("v5", 5)
    assert version.document == change.document and version.created_at == change.update_date


def test_seeding_again_is_two_small_queries(conn: Connection) -> None:
    aws_managed.seed(conn, "aws", 1_700_000_000.0)
    before = (_policies(conn), _versions(conn))
    statements = _count_statements(conn)
    assert aws_managed.seed(conn, "aws", 1_800_000_000.0) is None
    assert len(statements) == 2
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements)
    assert "document" not in " ".join(statements)
    assert (_policies(conn), _versions(conn)) == before


def test_seed_after_a_wipe_inserts_again_in_a_few_batches(conn: Connection) -> None:
    aws_managed.seed(conn, "aws", 1_700_000_000.0)
    before = (_policies(conn), _versions(conn))
    conn.execute(t.policy_versions.delete())
    conn.execute(t.managed_policies.delete())  # a dev reset keeps the settings table
    statements = _count_statements(conn)
    report = aws_managed.seed(conn, "aws", 1_700_000_000.0)
    assert report is not None and len(report.added) == len(SHIPPED)
    assert len(statements) < 15
    assert (_policies(conn), _versions(conn)) == before


def test_seed_runs_again_when_the_catalogue_changed(conn: Connection) -> None:
    aws_managed.seed(conn, "aws", 1_700_000_000.0)
    st = t.settings
    conn.execute(st.update().where(st.c.key == aws_managed.FINGERPRINT_KEY).values(value="older catalogue"))
    report = aws_managed.seed(conn, "aws", 1_700_000_000.0)
    assert report is not None and len(report.unchanged) == len(SHIPPED)
    stored = conn.execute(sa.select(st.c.value).where(st.c.key == aws_managed.FINGERPRINT_KEY)).scalar()
    assert stored == aws_managed.fingerprint("aws")


def test_seed_repairs_a_changed_document_and_description(conn: Connection) -> None:
    aws_managed.seed(conn, "aws", 1_700_000_000.0)
    mp, pv = t.managed_policies, t.policy_versions
    admin = BY_NAME["AdministratorAccess"]
    conn.execute(pv.update().where(pv.c.policy_id == admin.policy_id).values(document='{"stale": true}'))
    conn.execute(mp.update().where(mp.c.id == admin.policy_id).values(description="old"))
    conn.execute(t.settings.delete())
    report = aws_managed.seed(conn, "aws", 1_700_000_000.0)
    assert report is not None and report.updated == ["AdministratorAccess"]
    row = conn.execute(sa.select(mp).where(mp.c.id == admin.policy_id)).one()
    assert row.description == "Provides full access to AWS services and resources."
    (version,) = _versions(conn, admin.policy_id)
    assert version.document == admin.document


def test_seed_keeps_a_newer_imported_default_version(conn: Connection) -> None:
    aws_managed.seed(conn, "aws", 1_700_000_000.0)
    mp, pv = t.managed_policies, t.policy_versions
    change = BY_NAME["IAMUserChangePassword"]
    newer = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}
    )
    conn.execute(
        pv.insert().values(
            policy_id=change.policy_id, version_id="v9", version_number=9, document=newer, created_at=2e9
        )
    )
    conn.execute(
        mp.update()
        .where(mp.c.id == change.policy_id)
        .values(default_version="v9", next_version=10, updated_at=2e9, description="newer")
    )
    # The fast path notices nothing to do; a changed catalogue takes the full path: both keep v9.
    assert aws_managed.seed(conn, "aws", 1_700_000_000.0) is None
    conn.execute(t.settings.delete())
    report = aws_managed.seed(conn, "aws", 1_700_000_000.0)
    assert report is not None and report.kept_newer == ["IAMUserChangePassword"]
    row = conn.execute(sa.select(mp).where(mp.c.id == change.policy_id)).one()
    assert (row.default_version, row.next_version, row.updated_at, row.description) == ("v9", 10, 2e9, "newer")
    assert [v.version_id for v in _versions(conn, change.policy_id)] == ["v9", "v5"]


def test_seed_moves_an_older_default_forward_and_keeps_the_old_version(conn: Connection) -> None:
    mp, pv = t.managed_policies, t.policy_versions
    change = BY_NAME["IAMUserChangePassword"]
    conn.execute(
        mp.insert().values(
            id=change.policy_id,
            account_id="aws",
            name=change.name,
            name_key=change.name_key,
            path="/",
            arn=change.arn("aws"),
            description=change.description,
            created_at=1.0,
            updated_at=1.0,
            default_version="v3",
            next_version=4,
        )
    )
    conn.execute(
        pv.insert().values(policy_id=change.policy_id, version_id="v3", version_number=3, document="{}", created_at=1.0)
    )
    report = aws_managed.seed(conn, "aws", 1_700_000_000.0)
    assert report is not None and "IAMUserChangePassword" in report.updated
    row = conn.execute(sa.select(mp).where(mp.c.id == change.policy_id)).one()
    assert (row.default_version, row.next_version, row.updated_at) == ("v5", 6, change.update_date)
    assert [v.version_id for v in _versions(conn, change.policy_id)] == ["v5", "v3"]


def test_seed_rekeys_rows_of_the_previous_release_with_their_attachments(conn: Connection) -> None:
    conn.execute(t.accounts.insert().values(id="123456789012", name="default", created_at=1.0))
    mp, pv, pa = t.managed_policies, t.policy_versions, t.policy_attachments
    admin = BY_NAME["AdministratorAccess"]
    conn.execute(
        mp.insert().values(
            id=LEGACY_ADMIN_ID,
            account_id="aws",
            name=admin.name,
            name_key=admin.name_key,
            path="/",
            arn=admin.arn("aws"),
            created_at=1.0,
            updated_at=1.0,
            default_version="v1",
            next_version=2,
        )
    )
    conn.execute(
        pv.insert().values(
            policy_id=LEGACY_ADMIN_ID, version_id="v1", version_number=1, document=admin.document, created_at=1.0
        )
    )
    conn.execute(
        pa.insert().values(policy_id=LEGACY_ADMIN_ID, principal_type="user", principal_id="AIDAEXAMPLEUSER000001")
    )
    aws_managed.seed(conn, "aws", 1_700_000_000.0)
    assert conn.execute(sa.select(mp.c.id).where(mp.c.name_key == "administratoraccess")).scalar() == admin.policy_id
    assert conn.execute(sa.select(mp).where(mp.c.id == LEGACY_ADMIN_ID)).first() is None
    assert [v.policy_id for v in _versions(conn) if v.version_id == "v1" and v.document == admin.document] == [
        admin.policy_id
    ]
    assert conn.execute(sa.select(pa.c.policy_id)).scalars().all() == [admin.policy_id]


def test_seed_refuses_an_id_that_another_policy_holds(conn: Connection) -> None:
    conn.execute(t.accounts.insert().values(id="123456789012", name="default", created_at=1.0))
    conn.execute(
        t.managed_policies.insert().values(
            id=BY_NAME["ReadOnlyAccess"].policy_id,
            account_id="123456789012",
            name="mine",
            name_key="mine",
            path="/",
            arn="arn:aws:iam::123456789012:policy/mine",
            created_at=1.0,
            updated_at=1.0,
            default_version="v1",
            next_version=2,
        )
    )
    with pytest.raises(MergeConflict, match="ReadOnlyAccess is already used by arn:aws:iam::123456789012:policy/mine"):
        aws_managed.seed(conn, "aws", 1_700_000_000.0)


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
    assert sorted((r.account_id, r.id) for r in rows) == [
        ("123456789012", "ANPACUSTOMER000000001"),
        ("aws", "ANPAIWMBCKSKIEE64ZLYK"),
    ]


def test_seed_uses_the_partition(conn: Connection) -> None:
    aws_managed.seed(conn, "aws-cn", 1_700_000_000.0)
    arns = {r.arn for r in _policies(conn)}
    assert "arn:aws-cn:iam::aws:policy/AdministratorAccess" in arns
    assert "arn:aws-cn:iam::aws:policy/job-function/ViewOnlyAccess" in arns
