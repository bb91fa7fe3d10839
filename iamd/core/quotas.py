"""AWS's default IAM quotas, overridable with IAMD_QUOTAS="users=100000,roles=5000"."""

from __future__ import annotations

import os

DEFAULTS: dict[str, int] = {
    "users": 5000,
    "groups": 300,
    "roles": 1000,
    "managed_policies": 1500,
    "instance_profiles": 1000,
    "groups_per_user": 10,
    "attached_policies": 10,
    "access_keys_per_user": 2,
    "access_keys_root": 2,
    "policy_versions": 5,
    "tags": 50,
    "roles_per_instance_profile": 1,
    "ssh_keys_per_user": 5,
    "signing_certificates_per_user": 2,
    "server_certificates": 20,
    "account_aliases": 1,
    "mfa_devices_per_user": 8,
}


def _load() -> dict[str, int]:
    values = dict(DEFAULTS)
    spec = os.environ.get("IAMD_QUOTAS", "")
    for item in spec.split(","):
        name, sep, number = item.partition("=")
        if sep and name.strip() in values and number.strip().isdigit():
            values[name.strip()] = int(number)
    return values


QUOTAS = _load()


def quota(name: str) -> int:
    return QUOTAS[name]
