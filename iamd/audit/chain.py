"""The hash chain over audit records, and its verification.

Records form **one chain per database**, in the order of their sequence numbers ``1, 2, 3 ...``.
Each record stores ``hash = SHA-256(previous hash + "\\n" + sequence + "\\n" + canonical JSON)``
where the canonical JSON is the record with sorted keys, no insignificant white space, UTF-8.  The
first record's previous hash is :data:`GENESIS` (64 zeros); after a retention prune the first kept
record links to the anchor the prune event recorded (see :mod:`iamd.audit.store`).

Why one chain and not one per node: every node and worker appends through the database under one
lock (``pg_advisory_xact_lock`` on PostgreSQL; SQLite serialises writers with ``BEGIN
IMMEDIATE``), once per batch, not per request.  One chain gives one total order and one check, and
a whole node's records cannot disappear unnoticed, which separate per-writer chains would allow
(deleting a writer's chain entirely leaves every other chain intact).  The price, one short lock
per flush per writer, is small next to the request rate (flushes are every few hundred ms).

What a plain hash chain cannot catch: someone able to rewrite the table can recompute every hash
after the point they changed, and can cut the newest records off the end.  Both are caught by
comparing with a copy of the chain's head kept elsewhere (:func:`verify`'s ``expected_head``): the
JSONL file sink, a log line, an export.

:func:`verify` reports what it finds, each finding naming the record (sequence, event id):

* ``altered`` - the record's hash does not match its content (content or sequence changed), or its
  successor does not link to it (it was changed and re-hashed);
* ``deleted`` - sequence numbers are missing (a gap, a cut before the first record or after the
  expected head);
* ``inserted`` - a record that no other record links to sits inside the chain;
* ``reordered`` - a record is stored before the record it follows.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

GENESIS = "0" * 64


def canonical_json(record: Mapping[str, Any]) -> str:
    """The text the hash covers: sorted keys, compact separators, non-ASCII kept as UTF-8."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def stored_json(record: Mapping[str, Any]) -> str:
    """The text stored in the database and written to files: CloudTrail's field order, compact."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def chain_hash(previous: str, sequence: int, canonical: str) -> str:
    data = f"{previous}\n{sequence}\n".encode() + canonical.encode()
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Anchor:
    """A point of the chain: the sequence number and hash of a record (0 and GENESIS: before the first)."""

    sequence: int
    hash: str


START = Anchor(0, GENESIS)


@dataclass(frozen=True, slots=True)
class ChainedRecord:
    sequence: int
    previous_hash: str
    hash: str
    text: str
    """The record's JSON as stored (any key order; the hash covers its canonical form)."""

    @property
    def record(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.text)
        return loaded

    @property
    def event_id(self) -> str | None:
        try:
            value = self.record.get("eventID")
        except ValueError:
            return None
        return str(value) if value is not None else None

    def content_matches(self) -> bool:
        try:
            canonical = canonical_json(self.record)
        except ValueError:
            return False
        return chain_hash(self.previous_hash, self.sequence, canonical) == self.hash


def link(records: Iterable[Mapping[str, Any]], tip: Anchor) -> list[ChainedRecord]:
    """Chain new records after ``tip``: sequence numbers and hashes for each."""
    out: list[ChainedRecord] = []
    previous = tip
    for record in records:
        sequence = previous.sequence + 1
        digest = chain_hash(previous.hash, sequence, canonical_json(record))
        out.append(ChainedRecord(sequence, previous.hash, digest, stored_json(record)))
        previous = Anchor(sequence, digest)
    return out


class FindingKind(enum.Enum):
    ALTERED = "altered"
    DELETED = "deleted"
    INSERTED = "inserted"
    REORDERED = "reordered"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    sequence: int
    """The record concerned (for ``deleted``: the first missing sequence number)."""
    message: str
    event_id: str | None = None
    last_sequence: int | None = None
    """``deleted``: the last missing sequence number."""

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value, "sequence": self.sequence, "message": self.message}
        if self.event_id is not None:
            out["eventId"] = self.event_id
        if self.last_sequence is not None:
            out["lastSequence"] = self.last_sequence
        return out


@dataclass(slots=True)
class VerifyReport:
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    first: Anchor | None = None
    head: Anchor | None = None
    """The last record checked: keep it elsewhere to detect a cut-off end later."""

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first": self.first.sequence if self.first else None,
            "head": {"sequence": self.head.sequence, "hash": self.head.hash} if self.head else None,
            "findings": [f.as_json() for f in self.findings],
        }


class ChainVerifier:
    """Checks a chain fed in batches (records in stored order), with constant memory per batch.

    Classification (inserted, reordered) looks at the records of the current batch; anything that
    spans batches is still reported, as a broken link (altered or deleted).
    """

    def __init__(self, start: Anchor = START) -> None:
        self.report = VerifyReport()
        self._tip = start
        self._start = start

    def feed(self, batch: Sequence[ChainedRecord]) -> None:
        if not batch:
            return
        report = self.report
        if report.first is None:
            report.first = Anchor(batch[0].sequence, batch[0].hash)
        by_hash: dict[str, int] = {}
        for index, rec in enumerate(batch):
            by_hash.setdefault(rec.hash, index)
        linked_to = {rec.previous_hash for rec in batch}
        reported: set[int] = set()
        tip = self._tip
        last = len(batch) - 1
        for index, rec in enumerate(batch):
            report.checked += 1
            if not rec.content_matches():
                self._add(FindingKind.ALTERED, rec, "its content or sequence number does not match its hash")
                reported.add(index)
            if rec.previous_hash == tip.hash:
                tip = Anchor(rec.sequence, rec.hash)
                continue
            target = by_hash.get(rec.previous_hash)
            if target is not None and target > index:
                following = batch[target].sequence
                self._add(FindingKind.REORDERED, rec, f"it is stored before record {following}, which it follows")
                reported.add(index)
            elif target is not None and target < index:
                for between in range(target + 1, index):
                    other = batch[between]
                    if between not in reported and other.hash not in linked_to:
                        self._add(FindingKind.INSERTED, other, "no record links to it")
                        reported.add(between)
            elif index < last and rec.hash not in linked_to and batch[index + 1].previous_hash == tip.hash:
                self._add(FindingKind.INSERTED, rec, "it links to no record of the chain and no record links to it")
                reported.add(index)
                continue  # the chain goes on from the record before it
            elif rec.sequence > tip.sequence + 1:
                self._deleted(tip.sequence + 1, rec.sequence - 1, rec)
            elif index not in reported:
                self._add(
                    FindingKind.ALTERED,
                    rec,
                    f"it does not link to record {tip.sequence}: that record was changed and re-hashed",
                    sequence=tip.sequence,
                    event_id=None,
                )
            tip = Anchor(rec.sequence, rec.hash)
        self._tip = tip
        report.head = tip

    def finish(self, expected_head: Anchor | None = None) -> VerifyReport:
        """The report; with ``expected_head`` (kept elsewhere), also catches a cut-off or rewritten end."""
        report = self.report
        if expected_head is not None:
            tip = self._tip
            if tip.sequence < expected_head.sequence:
                self.report.findings.append(
                    Finding(
                        FindingKind.DELETED,
                        tip.sequence + 1,
                        f"records {tip.sequence + 1} to {expected_head.sequence} are missing from the end of the chain",
                        last_sequence=expected_head.sequence,
                    )
                )
            elif tip.sequence == expected_head.sequence and tip.hash != expected_head.hash:
                self.report.findings.append(
                    Finding(
                        FindingKind.ALTERED,
                        tip.sequence,
                        f"record {tip.sequence} is not the record the expected head names (the chain was rewritten)",
                    )
                )
        if report.head is None:
            report.head = self._start
        return report

    def _deleted(self, first: int, last: int, successor: ChainedRecord) -> None:
        where = "before the first record" if first == self._start.sequence + 1 and self.report.checked == 1 else ""
        span = f"record {first} is" if first == last else f"records {first} to {last} are"
        message = (
            f"{span} missing {where}".rstrip() if where else f"{span} missing (before record {successor.sequence})"
        )
        self.report.findings.append(Finding(FindingKind.DELETED, first, message, last_sequence=last))

    def _add(
        self,
        kind: FindingKind,
        rec: ChainedRecord,
        why: str,
        *,
        sequence: int | None = None,
        event_id: str | bool | None = True,
    ) -> None:
        number = rec.sequence if sequence is None else sequence
        eid = rec.event_id if event_id is True else (event_id if isinstance(event_id, str) else None)
        self.report.findings.append(Finding(kind, number, f"record {number} {kind.value}: {why}", event_id=eid))


def verify(
    records: Sequence[ChainedRecord], *, start: Anchor = START, expected_head: Anchor | None = None
) -> VerifyReport:
    """Check records given in stored order (see the module's documentation for what is found)."""
    verifier = ChainVerifier(start)
    verifier.feed(records)
    return verifier.finish(expected_head)
