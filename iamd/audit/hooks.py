"""Records of things the services notice deep inside, where no request pipeline sees them.

The node's :class:`~iamd.audit.store.AuditLog` is installed here once (``Runtime`` does it); code
that notices an event (an MFA device locked after wrong codes) calls the function for it.  With no
log installed (a library use, a unit test) the calls do nothing.
"""

from __future__ import annotations

from iamd.audit import names
from iamd.audit.record import RequestOrigin, service_event
from iamd.audit.store import AuditLog

_log: AuditLog | None = None


def install(log: AuditLog | None) -> None:
    global _log
    _log = log


def mfa_device_locked(
    *, serial: str, account_id: str | None, locked_seconds: int, failures: int, source_ip: str | None, now: float
) -> None:
    """``MfaDeviceLocked``: a device refused codes for ``locked_seconds`` after ``failures`` wrong ones."""
    log = _log
    if log is None:
        return
    origin = RequestOrigin(time=now, region="us-east-1", source_ip=source_ip or names.IAMD_SOURCE, user_agent="")
    log.record(
        service_event(
            origin,
            name="MfaDeviceLocked",
            account_id=account_id,
            details={"serialNumber": serial, "lockedSeconds": locked_seconds, "failures": failures},
        )
    )
