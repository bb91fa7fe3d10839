"""CloudTrail's LookupEvents errors (names, status and wording from CloudTrail's model).

They live here while the audit trail is being built in stages; at the merge they belong in
``iamd/core/errors.py`` with every other AWS error.
"""

from __future__ import annotations

from iamd.core.errors import AwsError


class _LookupError(AwsError):
    status = 400
    sender_fault = True


class InvalidLookupAttributesException(_LookupError):
    code = "InvalidLookupAttributesException"


class InvalidTimeRangeException(_LookupError):
    code = "InvalidTimeRangeException"


class InvalidMaxResultsException(_LookupError):
    code = "InvalidMaxResultsException"


class InvalidNextTokenException(_LookupError):
    code = "InvalidNextTokenException"
