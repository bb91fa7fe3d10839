"""The audit trail: CloudTrail-shaped records of what iamd did and decided, hash-chained in the database.

* :mod:`iamd.audit.record` builds records (API calls, console sign-ins, MFA checks, authorization
  decisions, iamd's own events); :mod:`iamd.audit.redact` keeps secrets out of them;
* :mod:`iamd.audit.chain` links records into a hash chain and verifies it;
* :mod:`iamd.audit.store` writes them in batches off the request path (and prunes them);
  :mod:`iamd.audit.sink` also writes rotated JSONL files;
* :mod:`iamd.audit.lookup` finds them the way CloudTrail's LookupEvents does.

Layering: beside ``services`` (it reads callers from ``auth`` and writes through ``store``);
``web`` and ``services`` call it, it calls neither.
"""
