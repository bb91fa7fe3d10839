"""Organizations' default quotas ("Quotas and service limits for AWS Organizations", Organizations
User Guide; the reasons and waiting periods from botocore's ``organizations`` model).

The counts apply per organization.  A deployment that needs more passes its own ``OrgQuotas``.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class OrgQuotas:
    accounts: int = 10
    """Accounts in an organization, the management account included; open invitations and account
    creations in progress count against it ("An invitation sent to an account counts against this
    quota")."""
    units: int = 2000
    """OUs in an organization."""
    unit_depth: int = 5
    """"OU maximum nesting in a root: five levels of OUs deep under a root"."""
    service_control_policies: int = 10_000
    other_policies: int = 1000
    """Policies of each other type in an organization."""
    tags_per_resource: int = 50
    concurrent_account_creations: int = 5
    """"Number of member accounts you can create concurrently: 5"."""
    invitations_per_day: int = 20
    """"Maximum number of invitation attempts you can perform in a 24-hour period: either 20 or the
    maximum number of accounts allowed in your organization, whichever is greater"; accepted
    invitations don't count."""
    invitation_lifetime: float = 15 * DAY
    """"Invitation to join an organization: 15 days"."""
    handshake_retention: float = 30 * DAY
    """Completed handshakes stay in lists for 30 days."""
    created_account_wait: float = 4 * DAY
    """A created account can leave (or be removed) only four days after its creation (the model's
    ``WAIT_PERIOD_ACTIVE`` reason and LeaveOrganization's documentation); invited accounts can at once."""

    def policies_of(self, policy_type: str) -> int:
        return self.service_control_policies if policy_type == "SERVICE_CONTROL_POLICY" else self.other_policies


DEFAULT_QUOTAS = OrgQuotas()
