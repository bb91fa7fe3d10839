"""Workload registrations, bootstrap tokens, the workload CA and Roles Anywhere subjects in the store, on both
backends (what the functional tests cannot see from outside: hashes, expiry, rotation, batching)."""

from __future__ import annotations

import hashlib
import json

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from iamd.core import ids
from iamd.core.clock import FixedClock
from iamd.core.errors import AccessDenied
from iamd.services import rolesanywhere, workloads
from iamd.services.runtime import Runtime
from iamd.store import tables as t
from tests.storage.conftest import ACCOUNT

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _csr() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


def _role(runtime: Runtime) -> None:
    with runtime.db.write() as conn:
        conn.execute(
            t.roles.insert().values(
                id=ids.unique_id("AROA"),
                account_id=ACCOUNT,
                name="task",
                name_key="task",
                path="/",
                created_at=1.0,
                trust_policy=json.dumps(TRUST),
                max_session_duration=3600,
            )
        )


def _enrolment(registration: workloads.Registration) -> dict[str, str]:
    return {"bootstrapToken": registration.bootstrap_token, "csr": _csr()}


def _register(runtime: Runtime, ttl: int = 3600) -> workloads.Registration:
    with runtime.db.write() as conn:
        return workloads.register(conn, runtime.clock, "aws", ACCOUNT, role="task", bootstrap_ttl=ttl)


def test_bootstrap_tokens_are_hashed_single_use_and_expire(runtime: Runtime, clock: FixedClock) -> None:
    _role(runtime)
    registration = _register(runtime, ttl=600)
    with runtime.db.read() as conn:
        stored = conn.execute(sa.select(t.workload_bootstrap_tokens.c.token_hash)).scalars().all()
    assert stored == [hashlib.sha256(registration.bootstrap_token.encode()).hexdigest()]

    with runtime.db.write() as conn:
        answer = workloads.enroll(
            conn, runtime.services, {"bootstrapToken": registration.bootstrap_token, "csr": _csr()}
        )
    assert answer["workloadId"] == registration.workload_id and answer["kind"] == "role"
    with pytest.raises(AccessDenied), runtime.db.write() as conn:
        workloads.enroll(conn, runtime.services, _enrolment(registration))

    late = _register(runtime, ttl=600)
    clock.advance(601)
    with pytest.raises(AccessDenied), runtime.db.write() as conn:
        workloads.enroll(conn, runtime.services, _enrolment(late))


def test_rotation_retires_the_ca_and_deregistration_forgets_certificates(runtime: Runtime) -> None:
    _role(runtime)
    registration = _register(runtime)
    with runtime.db.write() as conn:
        first = workloads.enroll(
            conn, runtime.services, {"bootstrapToken": registration.bootstrap_token, "csr": _csr()}
        )
        new_ca = workloads.rotate_ca(conn, runtime.box, runtime.clock, ACCOUNT)
    with runtime.db.read() as conn:
        cas = workloads.trusted_cas(conn, runtime.clock.time())
    assert {(ca.id == new_ca, ca.retired) for ca in cas} == {(True, False), (False, True)}
    issuer = x509.load_pem_x509_certificate(first["certificate"].encode()).issuer
    assert issuer != next(ca.certificate.subject for ca in cas if ca.id == new_ca)
    with runtime.db.read() as conn:
        sealed = conn.execute(sa.select(t.workload_cas.c.private_key_enc)).scalars().all()
    assert all(b"PRIVATE KEY" not in bytes(blob) for blob in sealed)  # sealed with the master key

    with runtime.db.write() as conn:
        workloads.deregister(conn, runtime.clock, ACCOUNT, registration.workload_id)
    with runtime.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.workload_certificates)).scalar() == 0
        state = conn.execute(sa.select(t.workloads.c.state)).scalar()
    assert state == "deregistered"


def test_subjects_are_written_when_new_then_in_batches(runtime: Runtime) -> None:
    recorder = rolesanywhere.SubjectRecorder(interval=60)

    def seen(when: float) -> rolesanywhere._Seen:
        subject_id = recorder.subject_id(ACCOUNT, "us-east-1", "CN=host")
        return rolesanywhere._Seen(subject_id, ACCOUNT, "us-east-1", "CN=host", "PEM", None, {"seenAt": when}, when)

    def last_seen() -> float:
        with runtime.db.read() as conn:
            return float(conn.execute(sa.select(t.rolesanywhere_subjects.c.last_seen_at)).scalar_one())

    recorder.record(seen(1000.0), runtime.db.side_write)
    assert last_seen() == 1000.0  # a new subject is there at once
    recorder.record(seen(1010.0), runtime.db.side_write)
    assert last_seen() == 1000.0  # later sightings wait for the batch
    recorder.record(seen(1061.0), runtime.db.side_write)
    assert last_seen() == 1061.0
