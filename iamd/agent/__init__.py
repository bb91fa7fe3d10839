"""The workload credentials agent: instance metadata (IMDSv2) and container credential endpoints.

``credentials`` (the source protocol and the refreshing cache), ``imds`` and ``container`` (what the
endpoints answer, independent of any server), ``server`` (stdlib HTTP listeners). See
docs/design/workloads.md for how the agent gets its credentials from iamd.
"""
