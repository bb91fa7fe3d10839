"""The IAM quotas: the ``quotas`` section of the settings, AWS's defaults unless configured."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from iamd.core.options import Section, SettingsError, option

LEGACY_VARIABLE = "IAMD_QUOTAS"
"""Several quotas in one variable: ``IAMD_QUOTAS="users=20000,roles=5000"``."""


@dataclass(frozen=True, slots=True)
class QuotaSettings(Section):
    """AWS's default IAM quotas. Each has its own variable; the older `IAMD_QUOTAS="users=20000,roles=5000"`
    sets several at once (a quota's own variable wins over it)."""

    users: int = option(5000, env="IAMD_QUOTA_USERS", minimum=0, help="IAM users per account.")
    groups: int = option(300, env="IAMD_QUOTA_GROUPS", minimum=0, help="Groups per account.")
    roles: int = option(1000, env="IAMD_QUOTA_ROLES", minimum=0, help="Roles per account.")
    managed_policies: int = option(
        1500, env="IAMD_QUOTA_MANAGED_POLICIES", minimum=0, help="Customer managed policies per account."
    )
    instance_profiles: int = option(
        1000, env="IAMD_QUOTA_INSTANCE_PROFILES", minimum=0, help="Instance profiles per account."
    )
    groups_per_user: int = option(10, env="IAMD_QUOTA_GROUPS_PER_USER", minimum=0, help="Groups a user belongs to.")
    attached_policies: int = option(
        10, env="IAMD_QUOTA_ATTACHED_POLICIES", minimum=0, help="Managed policies attached to a user, group or role."
    )
    access_keys_per_user: int = option(
        2, env="IAMD_QUOTA_ACCESS_KEYS_PER_USER", minimum=0, help="Access keys per user."
    )
    access_keys_root: int = option(
        2, env="IAMD_QUOTA_ACCESS_KEYS_ROOT", minimum=0, help="Access keys of the root user."
    )
    policy_versions: int = option(5, env="IAMD_QUOTA_POLICY_VERSIONS", minimum=1, help="Versions per managed policy.")
    tags: int = option(50, env="IAMD_QUOTA_TAGS", minimum=0, help="Tags per entity.")
    roles_per_instance_profile: int = option(
        1, env="IAMD_QUOTA_ROLES_PER_INSTANCE_PROFILE", minimum=0, help="Roles in an instance profile."
    )
    ssh_keys_per_user: int = option(5, env="IAMD_QUOTA_SSH_KEYS_PER_USER", minimum=0, help="SSH public keys per user.")
    signing_certificates_per_user: int = option(
        2, env="IAMD_QUOTA_SIGNING_CERTIFICATES_PER_USER", minimum=0, help="Signing certificates per user."
    )
    server_certificates: int = option(
        20, env="IAMD_QUOTA_SERVER_CERTIFICATES", minimum=0, help="Server certificates per account."
    )
    oidc_providers: int = option(
        100, env="IAMD_QUOTA_OIDC_PROVIDERS", minimum=0, help="OpenID Connect providers per account."
    )
    saml_providers: int = option(100, env="IAMD_QUOTA_SAML_PROVIDERS", minimum=0, help="SAML providers per account.")
    account_aliases: int = option(1, env="IAMD_QUOTA_ACCOUNT_ALIASES", minimum=0, help="Aliases per account.")
    mfa_devices_per_user: int = option(
        8, env="IAMD_QUOTA_MFA_DEVICES_PER_USER", minimum=0, help="MFA devices (of any kind) per user or root user."
    )
    organization_accounts: int = option(
        10,
        env="IAMD_QUOTA_ORGANIZATION_ACCOUNTS",
        minimum=1,
        help="Accounts in an organization, the management account, open invitations and account creations "
        "in progress included (AWS Organizations' default).",
    )

    def limit(self, name: str) -> int:
        """The quota called ``name`` (a field name, e.g. ``users``)."""
        if name not in NAMES:
            raise KeyError(f"no quota called {name!r}")
        value: int = getattr(self, name)
        return value


NAMES = frozenset(f.name for f in dataclasses.fields(QuotaSettings))


def parse_legacy(spec: str) -> dict[str, int]:
    """The quotas an ``IAMD_QUOTAS`` value sets: ``name=number`` items, comma-separated."""
    values: dict[str, int] = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        name, sep, number = (part.strip() for part in item.partition("="))
        if not sep or not number.isdigit():
            raise SettingsError(f"{LEGACY_VARIABLE}: {item.strip()!r} is not name=number")
        if name not in NAMES:
            raise SettingsError(f"{LEGACY_VARIABLE}: no quota called {name!r} (there are {', '.join(sorted(NAMES))})")
        values[name] = int(number)
    return values
