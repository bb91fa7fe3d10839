"""The optional JSONL file sink: one CloudTrail record per line, rotated by size and age, 0600 files.

Each line is the record with one more top-level key, ``iamdChain``:
``{"sequence": n, "previousHash": "...", "hash": "..."}``, so a copy of the files shipped
elsewhere can be verified on its own (:func:`read_chain`) and serves as the external anchor that
catches records cut off the end of the database's chain.

Files are ``audit-YYYYMMDDTHHMMSSZ.jsonl`` in the sink's directory (0700); the newest is the one
written to.  A file is rotated when it reaches ``max_bytes`` or is older than ``max_age`` seconds.
Several processes (uvicorn workers) may share a directory: every write and rotation happens under
an exclusive ``flock`` on ``audit.lock``, lines are appended with ``O_APPEND``.  Lines of different
processes may appear out of sequence order; :func:`read_chain` sorts them.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from iamd.audit.chain import ChainedRecord, stored_json
from iamd.core.clock import Clock, SystemClock
from iamd.core.private_files import FILE_MODE, ensure_private_dir, open_private

CHAIN_KEY = "iamdChain"
_NAME = re.compile(r"audit-(\d{8}T\d{6}Z)(?:-(\d+))?\.jsonl")


def chained_line(record: ChainedRecord) -> str:
    """The file line of a stored record: its JSON plus ``iamdChain``."""
    data = json.loads(record.text)
    data[CHAIN_KEY] = {"sequence": record.sequence, "previousHash": record.previous_hash, "hash": record.hash}
    return stored_json(data)


def parse_line(line: str) -> ChainedRecord:
    """A file line back into its chained record (ValueError when it is not one)."""
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    chain = data.pop(CHAIN_KEY, None)
    if not isinstance(chain, dict):
        raise ValueError(f"no {CHAIN_KEY} object")
    return ChainedRecord(int(chain["sequence"]), str(chain["previousHash"]), str(chain["hash"]), stored_json(data))


class JsonlSink:
    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 100 * 1024 * 1024,
        max_age: float = 86400.0,
        clock: Clock | None = None,
    ) -> None:
        if max_bytes < 1:
            raise ValueError("the audit file size limit must be at least 1 byte")
        if max_age <= 0:
            raise ValueError("the audit file age limit must be positive")
        self.directory = directory
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._clock: Clock = clock or SystemClock()

    def write(self, lines: Sequence[str]) -> None:
        """Append ``lines`` (rotating first when due); raises OSError when the files cannot be written."""
        if not lines:
            return
        ensure_private_dir(self.directory)
        lock = open_private(self.directory / "audit.lock")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = self._current()
            data = "".join(f"{line}\n" for line in lines).encode()
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
            try:
                os.fchmod(fd, FILE_MODE)
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            finally:
                os.close(fd)
        finally:
            os.close(lock)

    def files(self) -> list[Path]:
        """The sink's files, oldest first."""
        try:
            names = [p for p in self.directory.iterdir() if _NAME.fullmatch(p.name)]
        except FileNotFoundError:
            return []
        return sorted(names, key=lambda p: p.name)

    def _current(self) -> Path:
        now = self._clock.time()
        existing = self.files()
        if existing:
            newest = existing[-1]
            started = _started(newest)
            size = newest.stat().st_size
            if size < self.max_bytes and now - started < self.max_age:
                return newest
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
        path = self.directory / f"audit-{stamp}.jsonl"
        counter = 1
        while path.exists():  # rotated twice within one second
            path = self.directory / f"audit-{stamp}-{counter:04d}.jsonl"
            counter += 1
        return path


def _started(path: Path) -> float:
    match = _NAME.fullmatch(path.name)
    if match is None:
        return 0.0
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()


def read_chain(paths: Sequence[Path]) -> Iterator[ChainedRecord]:
    """Every record of these files, in sequence order (lines that are not records raise ValueError)."""
    records: list[ChainedRecord] = []
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    records.append(parse_line(line))
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"{path}:{number}: not an audit record ({exc})") from exc
    records.sort(key=lambda r: r.sequence)
    yield from records
