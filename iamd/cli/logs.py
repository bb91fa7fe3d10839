"""Logging for every iamd process: one format with ISO-8601 UTC times, the same in uvicorn's workers.

``iamd serve`` hands ``logging_config`` to uvicorn, which applies it in the main process and again
in each worker it spawns; the admin commands apply it themselves.
"""

from __future__ import annotations

import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class UtcIsoFormatter(logging.Formatter):
    """``2026-01-31T12:00:00.123Z``: ISO 8601, UTC, milliseconds."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def formatMessage(self, record: logging.LogRecord) -> str:
        # One record, one line: a message with line breaks (a multi-line migration title, a value a
        # client sent) must not start lines of its own that read like records.  Tracebacks, which
        # ``format`` appends after this, keep their lines.
        return super().formatMessage(record).replace("\r", "\\r").replace("\n", "\\n")


def logging_config(level: str, access_log: bool) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary (plain data: uvicorn pickles it for its workers)."""
    threshold = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"iamd": {"()": f"{__name__}.UtcIsoFormatter", "fmt": LOG_FORMAT}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "iamd", "stream": "ext://sys.stderr"}},
        "root": {"level": threshold, "handlers": ["stderr"]},
        "loggers": {
            "uvicorn": {"level": threshold, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": threshold, "handlers": [], "propagate": True},
            # iamd.access replaces uvicorn's access log
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            # "setup plugin ..." lines on every start are noise
            "alembic.runtime.plugins": {"level": "WARNING"},
            # the access log has its own switch, whatever the level of the rest
            "iamd.access": {"level": "INFO" if access_log else "WARNING"},
        },
    }


def configure(level: str, access_log: bool) -> None:
    logging.config.dictConfig(logging_config(level, access_log))
