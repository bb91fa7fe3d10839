"""Importing AWS managed policies from `aws iam get-account-authorization-details` output.

``data/aws-managed-export.json`` is in the shape the AWS CLI prints for
``--filter AWSManagedPolicy``, holding real policies with real versions (from the MAMIP history):
AWSSupportAccess v1-v4, AmazonS3ReadOnlyAccess v1-v3 (v1 URL-encoded, as the raw API sends it),
IAMUserChangePassword v2-v5, AmazonEC2RoleforSSM v8 (URL-encoded; not in iamd's catalogue) and
AWSConfigRole v42 (not attachable; not in the catalogue).
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.cli.main import main
from iamd.services.iam import aws_managed
from iamd.services.iam.aws_managed import importer
from iamd.services.iam.aws_managed.records import DetailError, parse_detail
from iamd.store import tables as t

FIXTURE = Path(__file__).parent / "data" / "aws-managed-export.json"
NOW = 1_900_000_000.0
SUPPORT_ID = "ANPAJSNKQX2OW67GF4S7E"
S3_READ_ID = "ANPAIZTJ4DXE7G6AGAE6M"
CHANGE_PASSWORD_ID = "ANPAJ4L4MM2A7QIEB56MS"


def _export() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text())
    return data


def _entry(data: dict[str, Any], name: str) -> dict[str, Any]:
    entry: dict[str, Any] = next(p for p in data["Policies"] if p["PolicyName"] == name)
    return entry


def _plan(data: dict[str, Any], partition: str = "aws", **kwargs: Any) -> importer.ImportPlan:
    return importer.read_policies(json.dumps(data), partition, **kwargs)


def _refused(data: Any, partition: str = "aws") -> importer.ImportRefused:
    with pytest.raises(importer.ImportRefused) as exc:
        importer.read_policies(data if isinstance(data, str) else json.dumps(data), partition)
    return exc.value


@pytest.fixture
def conn() -> Iterator[Connection]:
    engine = sa.create_engine("sqlite://")
    sa.event.listen(engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA foreign_keys=ON"))
    t.metadata.create_all(engine)
    with engine.begin() as connection:
        aws_managed.seed(connection, "aws", 1_700_000_000.0)
        yield connection
    engine.dispose()


def _policy(conn: Connection, policy_id: str) -> sa.Row[Any]:
    mp = t.managed_policies
    return conn.execute(sa.select(mp).where(mp.c.id == policy_id)).one()


def _versions(conn: Connection, policy_id: str) -> list[str]:
    pv = t.policy_versions
    query = sa.select(pv.c.version_id).where(pv.c.policy_id == policy_id).order_by(pv.c.version_number.desc())
    return list(conn.execute(query).scalars())


def _document(conn: Connection, policy_id: str, version_id: str) -> Any:
    pv = t.policy_versions
    text = conn.execute(
        sa.select(pv.c.document).where(pv.c.policy_id == policy_id, pv.c.version_id == version_id)
    ).scalar_one()
    return json.loads(text)


# --- reading the file --------------------------------------------------------------------------------


def test_reads_every_policy_and_version_in_both_document_forms() -> None:
    plan = _plan(_export())
    assert plan.in_file == 5
    by_name = {p.name: p for p in plan.policies}
    assert [v.version_id for v in by_name["AWSSupportAccess"].versions] == ["v4", "v3", "v2", "v1"]
    s3 = by_name["AmazonS3ReadOnlyAccess"]
    assert (s3.policy_id, s3.default_version, s3.partition) == (S3_READ_ID, "v3", "aws")
    v1 = next(v for v in s3.versions if v.version_id == "v1")
    assert json.loads(v1.document) == {
        "Version": "2012-10-17",
        "Statement": [{"Action": ["s3:Get*", "s3:List*"], "Resource": "*", "Effect": "Allow"}],
    }
    assert v1.create_date == 1423248059.0  # 2015-02-06T18:40:59+00:00
    ssm = by_name["AmazonEC2RoleforSSM"]
    assert ssm.path == "/service-role/" and json.loads(ssm.document)["Version"] == "2012-10-17"
    assert not by_name["AWSConfigRole"].is_attachable
    assert by_name["AWSConfigRole"].description is None


def test_only_attachable_skips_what_the_file_marks_not_attachable() -> None:
    plan = _plan(_export(), only_attachable=True)
    assert "AWSConfigRole" not in {p.name for p in plan.policies}
    assert plan.skipped_not_attachable == ("AWSConfigRole",)
    assert len(plan.policies) == 4 and plan.in_file == 5


def test_customer_managed_policies_are_refused_with_a_clear_message() -> None:
    data = _export()
    entry = _entry(data, "AWSSupportAccess")
    entry["Arn"] = "arn:aws:iam::123456789012:policy/AWSSupportAccess"
    error = _refused(data)
    assert str(error) == (
        "Policies[0] AWSSupportAccess: arn:aws:iam::123456789012:policy/AWSSupportAccess is a customer managed "
        "policy of account 123456789012; only AWS managed policies (arn:aws:iam::aws:policy/...) can be "
        "imported: export them with --filter AWSManagedPolicy"
    )


def test_every_problem_is_listed() -> None:
    data = _export()
    _entry(data, "AWSSupportAccess")["Arn"] = "arn:aws:iam::123456789012:policy/AWSSupportAccess"
    _entry(data, "AmazonS3ReadOnlyAccess")["DefaultVersionId"] = "v7"
    _entry(data, "IAMUserChangePassword")["PolicyVersionList"][0]["Document"] = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Perhaps", "Action": "iam:*", "Resource": "*"}],
    }
    error = _refused(data)
    assert len(error.problems) == 3
    assert str(error).startswith("3 problem(s):\n  Policies[0] AWSSupportAccess: ")
    assert error.problems[1] == (
        "Policies[1] AmazonS3ReadOnlyAccess: the default version v7 is not in PolicyVersionList"
    )
    assert error.problems[2].startswith(
        "Policies[2] IAMUserChangePassword: its default version v5 is refused by iamd's policy grammar: "
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.pop("PolicyId"), "Policies[0] AWSSupportAccess: PolicyId is missing"),
        (lambda e: e.update(PolicyId="nope"), "PolicyId 'nope' is not an IAM policy id"),
        (lambda e: e.update(Path="service-role"), "Path 'service-role' must begin and end with /"),
        (lambda e: e.update(Arn="arn:aws:iam::aws:policy/Other"), "does not match Path '/' and PolicyName"),
        (lambda e: e.update(Arn="AWSSupportAccess"), "Arn 'AWSSupportAccess' is not a policy ARN"),
        (lambda e: e.update(PolicyVersionList=[]), "PolicyVersionList must list the policy's versions"),
        (lambda e: e.update(IsAttachable="yes"), "IsAttachable must be true or false"),
        (lambda e: e.update(CreateDate="yesterday"), "CreateDate 'yesterday' is not an ISO 8601 date"),
        (lambda e: e.update(Description="x" * 1001), "Description is longer than 1000 characters"),
        (lambda e: e["PolicyVersionList"][1].update(IsDefaultVersion=True), "IsDefaultVersion marks v4, v3"),
        (lambda e: e["PolicyVersionList"][1].update(VersionId="v4"), "version v4 is listed twice"),
        (lambda e: e["PolicyVersionList"][1].update(VersionId="3"), "VersionId '3' is not a policy version id"),
        (lambda e: e["PolicyVersionList"][1].update(Document="{nope"), "v3: Document is not JSON"),
        (lambda e: e["PolicyVersionList"][1].update(Document="[]"), "v3: Document must be a JSON object"),
        (lambda e: e["PolicyVersionList"][1].pop("Document"), "v3: Document is missing"),
    ],
)
def test_malformed_entries_are_named(change: Any, message: str) -> None:
    data = _export()
    change(data["Policies"][0])
    assert message in str(_refused(data))


def test_a_file_of_another_shape_is_refused() -> None:
    assert str(_refused("not json")).startswith("not JSON (")
    assert str(_refused({"Policy": {}})) == importer.SHAPE_HINT
    assert str(_refused([1, 2])) == importer.SHAPE_HINT
    assert "each policy must be a JSON object" in str(_refused({"Policies": ["x"]}))


def test_duplicates_and_other_partitions_are_refused() -> None:
    data = _export()
    data["Policies"].append(copy.deepcopy(data["Policies"][0]))
    assert "Policies[5] AWSSupportAccess: listed twice (also Policies[0])" in str(_refused(data))
    data = _export()
    twin = copy.deepcopy(data["Policies"][0])
    twin.update(PolicyName="Twin", Arn="arn:aws:iam::aws:policy/Twin")
    data["Policies"].append(twin)
    assert f"PolicyId {SUPPORT_ID} is also AWSSupportAccess's" in str(_refused(data))
    error = _refused(_export(), partition="aws-cn")
    assert error.problems[0] == (
        "Policies[0] AWSSupportAccess: its ARN is in partition aws but this store serves aws-cn (IAMD_PARTITION)"
    )


def test_parse_detail_accepts_a_minimal_entry() -> None:
    policy = parse_detail(
        {
            "PolicyName": "X",
            "PolicyId": "ANPAEXAMPLE0000000001",
            "Arn": "arn:aws:iam::aws:policy/X",
            "DefaultVersionId": "v2",
            "PolicyVersionList": [{"VersionId": "v2", "Document": '{"Version": "2012-10-17", "Statement": []}'}],
        }
    )
    assert (policy.path, policy.is_attachable, policy.create_date, policy.description) == ("/", True, None, None)
    with pytest.raises(DetailError, match="policy: each policy must be a JSON object"):
        parse_detail(["x"])


# --- merging into the store ----------------------------------------------------------------------------


def test_import_adds_versions_and_new_policies(conn: Connection) -> None:
    plan = _plan(_export())
    report = importer.store(conn, plan, "aws", NOW)
    assert report.added == ["AmazonEC2RoleforSSM", "AWSConfigRole"]
    assert report.updated == ["AWSSupportAccess", "AmazonS3ReadOnlyAccess", "IAMUserChangePassword"]
    assert report.versions_added == 3 + 2 + 3 + 1 + 1
    assert _versions(conn, SUPPORT_ID) == ["v4", "v3", "v2", "v1"]
    assert _versions(conn, CHANGE_PASSWORD_ID) == ["v5", "v4", "v3", "v2"]
    support = _policy(conn, SUPPORT_ID)
    assert (support.default_version, support.next_version) == ("v4", 5)
    assert _document(conn, S3_READ_ID, "v1")["Statement"][0]["Action"] == ["s3:Get*", "s3:List*"]
    ssm = conn.execute(sa.select(t.managed_policies).where(t.managed_policies.c.name == "AmazonEC2RoleforSSM")).one()
    assert ssm.arn == "arn:aws:iam::aws:policy/service-role/AmazonEC2RoleforSSM"
    assert (ssm.account_id, ssm.id, ssm.default_version, ssm.next_version) == ("aws", "ANPAI6TL3SMY22S4KMMX6", "v8", 9)
    config = conn.execute(sa.select(t.managed_policies).where(t.managed_policies.c.name == "AWSConfigRole")).one()
    assert config.is_attachable is False


def test_import_is_idempotent(conn: Connection) -> None:
    plan = _plan(_export())
    importer.store(conn, plan, "aws", NOW)
    before = conn.execute(sa.select(t.managed_policies)).all(), conn.execute(sa.select(t.policy_versions)).all()
    report = importer.store(conn, plan, "aws", NOW + 100)
    assert (report.added, report.updated, report.versions_added) == ([], [], 0)
    assert len(report.unchanged) == 5
    after = conn.execute(sa.select(t.managed_policies)).all(), conn.execute(sa.select(t.policy_versions)).all()
    assert after == before
    assert importer.summary(plan, report, dry_run=False) == {
        "PoliciesInFile": 5,
        "Added": 0,
        "Updated": 0,
        "Unchanged": 5,
        "KeptNewerDefault": 0,
        "VersionsAdded": 0,
        "SkippedNotAttachable": 0,
        "DryRun": False,
    }


def _with_newer_version(data: dict[str, Any]) -> dict[str, Any]:
    """A hypothetical v6 of IAMUserChangePassword that also allows iam:GetAccountSummary."""
    entry = _entry(data, "IAMUserChangePassword")
    v5 = entry["PolicyVersionList"][0]
    v5["IsDefaultVersion"] = False
    document = copy.deepcopy(v5["Document"])
    document["Statement"].append({"Effect": "Allow", "Action": "iam:GetAccountSummary", "Resource": "*"})
    entry["PolicyVersionList"].insert(
        0, {"Document": document, "VersionId": "v6", "IsDefaultVersion": True, "CreateDate": "2030-01-02T03:04:05Z"}
    )
    entry.update(DefaultVersionId="v6", UpdateDate="2030-01-02T03:04:05Z")
    return data


def test_a_newer_version_becomes_default_and_survives_reseeding(conn: Connection) -> None:
    importer.store(conn, _plan(_with_newer_version(_export())), "aws", NOW)
    row = _policy(conn, CHANGE_PASSWORD_ID)
    assert (row.default_version, row.next_version, row.updated_at) == ("v6", 7, 1893553445.0)
    assert _document(conn, CHANGE_PASSWORD_ID, "v6")["Statement"][-1]["Action"] == "iam:GetAccountSummary"
    conn.execute(t.settings.delete())  # as after an upgrade: the catalogue is merged again
    report = aws_managed.seed(conn, "aws", NOW)
    assert report is not None and report.kept_newer == ["IAMUserChangePassword"]
    assert _policy(conn, CHANGE_PASSWORD_ID).default_version == "v6"
    assert _versions(conn, CHANGE_PASSWORD_ID) == ["v6", "v5", "v4", "v3", "v2"]


def test_an_older_file_adds_history_but_keeps_the_newer_default(conn: Connection) -> None:
    importer.store(conn, _plan(_with_newer_version(_export())), "aws", NOW)
    report = importer.store(conn, _plan(_export()), "aws", NOW)
    assert report.kept_newer == ["IAMUserChangePassword"]
    assert _policy(conn, CHANGE_PASSWORD_ID).default_version == "v6"


def test_a_different_document_under_the_same_version_id_is_rewritten(conn: Connection) -> None:
    data = _export()
    entry = _entry(data, "AWSSupportAccess")
    entry["PolicyVersionList"][0]["Document"]["Statement"][0]["Action"] = ["support:*"]
    report = importer.store(conn, _plan(data), "aws", NOW)
    assert "AWSSupportAccess" in report.updated
    assert _document(conn, SUPPORT_ID, "v4")["Statement"][0]["Action"] == ["support:*"]


def test_the_same_document_written_differently_is_left_alone(conn: Connection) -> None:
    data = _export()
    entry = _entry(data, "AWSSupportAccess")
    entry["PolicyVersionList"][0]["Document"] = json.dumps(entry["PolicyVersionList"][0]["Document"])
    importer.store(conn, _plan(data), "aws", NOW)
    pv = t.policy_versions
    stored = conn.execute(
        sa.select(pv.c.document).where(pv.c.policy_id == SUPPORT_ID, pv.c.version_id == "v4")
    ).scalar_one()
    assert stored == aws_managed.load()[[p.name for p in aws_managed.load()].index("AWSSupportAccess")].document


# --- the command -----------------------------------------------------------------------------------------


def _cli(tmp_path: Path, *args: str) -> int:
    return main(["--data-dir", str(tmp_path / "data"), "policies", "import-aws-managed", *args])


def _stored(tmp_path: Path) -> dict[str, int]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'data' / 'iamd.db'}")
    try:
        with engine.connect() as c:
            mp, pv = t.managed_policies, t.policy_versions
            query = sa.select(mp.c.name, sa.func.count(pv.c.version_id).label("versions")).join(pv).group_by(mp.c.name)
            return {row.name: row.versions for row in c.execute(query)}
    finally:
        engine.dispose()


def test_the_command_imports_and_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(tmp_path, str(FIXTURE), "--only-attachable") == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "PoliciesInFile": 5,
        "Added": 1,
        "Updated": 3,
        "Unchanged": 0,
        "KeptNewerDefault": 0,
        "VersionsAdded": 9,
        "SkippedNotAttachable": 1,
        "DryRun": False,
    }
    counts = _stored(tmp_path)
    assert counts["AWSSupportAccess"] == 4 and counts["AmazonEC2RoleforSSM"] == 1
    assert "AWSConfigRole" not in counts
    assert _cli(tmp_path, str(FIXTURE), "--only-attachable") == 0
    assert json.loads(capsys.readouterr().out)["Unchanged"] == 4


def test_the_command_reads_stdin_and_dry_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(FIXTURE.read_text()))
    assert _cli(tmp_path, "-", "--dry-run") == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["Added"], out["VersionsAdded"], out["DryRun"]) == (2, 10, True)
    assert _stored(tmp_path)["AWSSupportAccess"] == 1  # only the shipped version


def test_the_command_refuses_a_customer_policy_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _export()
    _entry(data, "AmazonS3ReadOnlyAccess")["Arn"] = "arn:aws:iam::123456789012:policy/AmazonS3ReadOnlyAccess"
    path = tmp_path / "export.json"
    path.write_text(json.dumps(data))
    assert _cli(tmp_path, str(path)) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"iamd: {path}: Policies[1] AmazonS3ReadOnlyAccess: arn:aws:iam::123456789012:policy/")
    assert err.rstrip().endswith("nothing was imported")
    assert not (tmp_path / "data").exists()
    assert _cli(tmp_path, str(tmp_path / "missing.json")) == 1
    assert "No such file or directory" in capsys.readouterr().err
