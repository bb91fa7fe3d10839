"""The hash chain: every kind of tampering is found and names the record it concerns."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest

from iamd.audit.chain import (
    GENESIS,
    START,
    Anchor,
    ChainedRecord,
    ChainVerifier,
    FindingKind,
    canonical_json,
    chain_hash,
    link,
    verify,
)


def _records(count: int, first: int = 1) -> list[dict[str, object]]:
    return [
        {"eventID": f"event-{n}", "eventName": "GetUser", "n": n, "nested": {"b": 1, "a": "é"}}
        for n in range(first, first + count)
    ]


def _chain(count: int) -> list[ChainedRecord]:
    return link(_records(count), START)


def _kinds(report: object) -> list[tuple[str, int]]:
    return [(f.kind.value, f.sequence) for f in report.findings]  # type: ignore[attr-defined]


def test_an_untouched_chain_verifies() -> None:
    chain = _chain(10)
    assert [r.sequence for r in chain] == list(range(1, 11))
    assert chain[0].previous_hash == GENESIS
    assert all(b.previous_hash == a.hash for a, b in itertools.pairwise(chain))
    report = verify(chain)
    assert report.ok and report.checked == 10
    assert report.head == Anchor(10, chain[-1].hash)


def test_the_hash_covers_sequence_previous_hash_and_canonical_content() -> None:
    record = {"b": 1, "a": [1, {"y": "z", "x": None}]}
    (linked,) = link([record], Anchor(41, "ab" * 32))
    assert linked.sequence == 42
    assert linked.hash == chain_hash("ab" * 32, 42, canonical_json(record))
    assert canonical_json(record) == '{"a":[1,{"x":null,"y":"z"}],"b":1}'
    # stored text keeps the record's own key order; reordering keys alone is not a change
    assert linked.text.startswith('{"b":1')
    reordered_text = dataclasses.replace(linked, text=json.dumps(json.loads(linked.text), sort_keys=True))
    assert reordered_text.content_matches()


def test_an_altered_record_is_named() -> None:
    chain = _chain(6)
    changed = json.loads(chain[2].text)
    changed["eventName"] = "DeleteUser"
    chain[2] = dataclasses.replace(chain[2], text=json.dumps(changed))
    report = verify(chain)
    assert _kinds(report) == [("altered", 3)]
    assert report.findings[0].event_id == "event-3"


def test_a_changed_sequence_number_is_an_alteration() -> None:
    chain = _chain(4)
    chain[3] = dataclasses.replace(chain[3], sequence=9)
    assert ("altered", 9) in _kinds(verify(chain))


def test_an_altered_and_rehashed_record_is_found_by_its_successor() -> None:
    chain = _chain(6)
    forged = json.loads(chain[2].text)
    forged["eventName"] = "DeleteUser"
    chain[2] = link([forged], Anchor(2, chain[1].hash))[0]
    report = verify(chain)
    assert _kinds(report) == [("altered", 3)]
    assert "re-hashed" in report.findings[0].message


@pytest.mark.parametrize("gone", [[3], [3, 4, 5], [2, 6]])
def test_deleted_records_are_named(gone: list[int]) -> None:
    chain = [r for r in _chain(8) if r.sequence not in gone]
    report = verify(chain)
    missing = {n for f in report.findings for n in range(f.sequence, (f.last_sequence or f.sequence) + 1)}
    assert {f.kind for f in report.findings} == {FindingKind.DELETED}
    assert missing == set(gone)


def test_records_cut_from_the_start_are_found() -> None:
    chain = _chain(5)[2:]
    report = verify(chain)
    assert _kinds(report) == [("deleted", 1)]
    assert report.findings[0].last_sequence == 2
    # ... unless the chain legitimately starts there (after a retention prune)
    assert verify(chain, start=Anchor(2, "e" * 64)).ok is False  # another anchor
    original = _chain(5)
    assert verify(original[2:], start=Anchor(2, original[1].hash)).ok


def test_records_cut_from_the_end_need_the_expected_head() -> None:
    chain = _chain(7)
    head = Anchor(7, chain[-1].hash)
    assert verify(chain[:5]).ok  # a plain chain cannot know its own end
    report = verify(chain[:5], expected_head=head)
    assert _kinds(report) == [("deleted", 6)]
    assert report.findings[0].last_sequence == 7


def test_a_rewritten_head_is_found_with_the_expected_head() -> None:
    chain = _chain(4)
    head = Anchor(4, chain[-1].hash)
    forged = json.loads(chain[3].text)
    forged["eventName"] = "Nothing"
    chain[3] = link([forged], Anchor(3, chain[2].hash))[0]
    assert verify(chain).ok
    assert _kinds(verify(chain, expected_head=head)) == [("altered", 4)]


def test_an_inserted_record_with_a_valid_hash_is_named() -> None:
    chain = _chain(6)
    forged = link([{"eventID": "forged", "eventName": "CreateUser"}], Anchor(3, chain[2].hash))[0]
    tampered = [*chain[:3], forged, *chain[3:]]
    report = verify(tampered)
    assert _kinds(report) == [("inserted", 4)]
    assert report.findings[0].event_id == "forged"


def test_an_inserted_record_that_links_nowhere_is_named() -> None:
    chain = _chain(6)
    junk = link([{"eventID": "junk"}], Anchor(77, "f" * 64))[0]
    tampered = [*chain[:2], junk, *chain[2:]]
    report = verify(tampered)
    assert [(f.kind.value, f.event_id) for f in report.findings] == [("inserted", "junk")]


def test_swapped_records_are_reported_as_reordered() -> None:
    chain = _chain(6)
    tampered = [*chain[:2], chain[3], chain[2], *chain[4:]]
    report = verify(tampered)
    assert _kinds(report) == [("reordered", 4)]
    assert "stored before record 3" in report.findings[0].message


def test_a_record_moved_far_back_is_reordered() -> None:
    chain = _chain(8)
    moved = chain.pop(1)
    chain.insert(5, moved)
    report = verify(chain)
    assert {f.kind for f in report.findings} == {FindingKind.REORDERED}


def test_batches_carry_the_tip_across() -> None:
    chain = _chain(9)
    verifier = ChainVerifier()
    for start in range(0, 9, 4):
        verifier.feed(chain[start : start + 4])
    assert verifier.finish().ok
    broken = ChainVerifier()
    broken.feed(chain[:4])
    broken.feed(chain[5:])  # record 5 missing exactly at a batch boundary
    assert _kinds(broken.finish()) == [("deleted", 5)]


def test_an_empty_chain_is_fine_unless_a_head_was_expected() -> None:
    assert verify([]).ok
    assert _kinds(verify([], expected_head=Anchor(3, "a" * 64))) == [("deleted", 1)]


def test_a_record_whose_text_is_not_json_is_altered() -> None:
    chain = _chain(3)
    chain[1] = dataclasses.replace(chain[1], text="{not json")
    assert _kinds(verify(chain)) == [("altered", 2)]
