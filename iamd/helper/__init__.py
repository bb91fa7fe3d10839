"""The Roles Anywhere credential helper: ``credential-process`` and ``serve`` (see ``cli``).

``files`` reads certificates and keys, ``session`` calls CreateSession; ``serve`` reuses the agent's
IMDSv2 endpoint (iamd.agent) with CreateSession as its credential source.
"""
