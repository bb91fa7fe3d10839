"""The schema.  Times are epoch seconds (double) so SQLite and PostgreSQL agree exactly.

Names are unique per account case-insensitively, as in AWS: every named entity keeps its
display ``name`` and a lower-cased ``name_key`` that carries the unique index and orders
keyset pagination.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = sa.String(32)
ACCOUNT = sa.String(12)
NAME = sa.String(128)
PATH = sa.String(512)
MFA_NAME = sa.String(226)
"""Virtual MFA device names may be longer than other IAM names (CreateVirtualMFADevice)."""
ARN = sa.String(2048)
TIME: sa.Double[float] = sa.Double()

# --- bookkeeping --------------------------------------------------------------------------

settings = sa.Table(
    "settings",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

generation = sa.Table(
    "generation",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("value", sa.BigInteger, nullable=False),
    sa.Column("changed_at", TIME, nullable=False),
)

# --- accounts -------------------------------------------------------------------------------

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", ACCOUNT, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("root_email", sa.String(256), nullable=True),
    sa.Column("root_password_hash", sa.String(256), nullable=True),
    sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()),
)

account_aliases = sa.Table(
    "account_aliases",
    metadata,
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("alias", sa.String(63), nullable=False, unique=True),
)

password_policies = sa.Table(
    "password_policies",
    metadata,
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),
)

# --- principals ------------------------------------------------------------------------------


def _named(table: str, *columns: sa.Column[object]) -> sa.Table:
    return sa.Table(
        table,
        metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("name_key", NAME, nullable=False),
        sa.Column("path", PATH, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        *columns,
        sa.UniqueConstraint("account_id", "name_key", name=f"uq_{table}_account_name"),
    )


users = _named(
    "users",
    sa.Column("permissions_boundary", ARN, nullable=True),
    sa.Column("password_last_used", TIME, nullable=True),
)

groups = _named("groups")

group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column("group_id", ID, sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Index("ix_group_members_user", "user_id"),
)

roles = _named(
    "roles",
    sa.Column("trust_policy", sa.Text, nullable=False),
    sa.Column("description", sa.String(1000), nullable=True),
    sa.Column("max_session_duration", sa.Integer, nullable=False),
    sa.Column("permissions_boundary", ARN, nullable=True),
    sa.Column("last_used_at", TIME, nullable=True),
    sa.Column("last_used_region", sa.String(64), nullable=True),
    sa.Column("service_linked", sa.Boolean, nullable=False, server_default=sa.false()),
)

instance_profiles = _named("instance_profiles")

instance_profile_roles = sa.Table(
    "instance_profile_roles",
    metadata,
    sa.Column("instance_profile_id", ID, sa.ForeignKey("instance_profiles.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role_id", ID, sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    sa.Index("ix_instance_profile_roles_role", "role_id"),
)

# --- policies ---------------------------------------------------------------------------------

managed_policies = sa.Table(
    "managed_policies",
    metadata,
    sa.Column("id", ID, primary_key=True),
    # 12-digit account id, or "aws" for AWS-managed policies
    sa.Column("account_id", ACCOUNT, nullable=False),
    sa.Column("name", NAME, nullable=False),
    sa.Column("name_key", NAME, nullable=False),
    sa.Column("path", PATH, nullable=False),
    sa.Column("arn", ARN, nullable=False, unique=True),
    sa.Column("description", sa.String(1000), nullable=True),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.Column("default_version", sa.String(20), nullable=False),
    sa.Column("next_version", sa.Integer, nullable=False),
    sa.Column("is_attachable", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.UniqueConstraint("account_id", "name_key", name="uq_managed_policies_account_name"),
)

policy_versions = sa.Table(
    "policy_versions",
    metadata,
    sa.Column("policy_id", ID, sa.ForeignKey("managed_policies.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("version_id", sa.String(20), primary_key=True),
    sa.Column("version_number", sa.Integer, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
)

# principal_type: "user" | "group" | "role"
policy_attachments = sa.Table(
    "policy_attachments",
    metadata,
    sa.Column("policy_id", ID, sa.ForeignKey("managed_policies.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("principal_type", sa.String(8), primary_key=True),
    sa.Column("principal_id", ID, primary_key=True),
    sa.Index("ix_policy_attachments_principal", "principal_type", "principal_id"),
)

inline_policies = sa.Table(
    "inline_policies",
    metadata,
    sa.Column("principal_type", sa.String(8), primary_key=True),
    sa.Column("principal_id", ID, primary_key=True),
    sa.Column("name_key", NAME, primary_key=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
)

# --- credentials -------------------------------------------------------------------------------

access_keys = sa.Table(
    "access_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    # NULL for the account root's keys
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    sa.Column("secret_enc", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("last_used_at", TIME, nullable=True),
    sa.Column("last_used_service", sa.String(64), nullable=True),
    sa.Column("last_used_region", sa.String(64), nullable=True),
    sa.Index("ix_access_keys_user", "user_id"),
    sa.Index("ix_access_keys_account", "account_id"),
)

login_profiles = sa.Table(
    "login_profiles",
    metadata,
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("reset_required", sa.Boolean, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("password_changed_at", TIME, nullable=False),
)

ssh_public_keys = sa.Table(
    "ssh_public_keys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("uploaded_at", TIME, nullable=False),
    sa.Index("ix_ssh_public_keys_user", "user_id"),
)

signing_certificates = sa.Table(
    "signing_certificates",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("uploaded_at", TIME, nullable=False),
    sa.Index("ix_signing_certificates_user", "user_id"),
)

server_certificates = _named(
    "server_certificates",
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("chain", sa.Text, nullable=True),
    sa.Column("private_key_enc", sa.LargeBinary, nullable=False),
    sa.Column("expiration", TIME, nullable=True),
)

# --- tags ----------------------------------------------------------------------------------------

# resource_type: user | role | policy | instance-profile | server-certificate | mfa | oidc | saml
tags = sa.Table(
    "tags",
    metadata,
    sa.Column("resource_type", sa.String(24), primary_key=True),
    sa.Column("resource_id", sa.String(64), primary_key=True),
    sa.Column("key_lower", sa.String(128), primary_key=True),
    sa.Column("key", sa.String(128), nullable=False),
    sa.Column("value", sa.String(256), nullable=False),
)

# --- reports and tasks -----------------------------------------------------------------------------

credential_reports = sa.Table(
    "credential_reports",
    metadata,
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("generated_at", TIME, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
)

deletion_tasks = sa.Table(
    "deletion_tasks",
    metadata,
    sa.Column("id", sa.String(256), primary_key=True),
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("created_at", TIME, nullable=False),
)

# --- session token keys (shared by every node; encrypted with the master key) --------------------

token_keys = sa.Table(
    "token_keys",
    metadata,
    sa.Column("id", sa.String(8), primary_key=True),  # hex of the 4-byte key id
    sa.Column("key_enc", sa.LargeBinary, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("is_primary", sa.Boolean, nullable=False, server_default=sa.false()),
)

# --- MFA devices (iamd.services.mfa) ---------------------------------------------------------------

# kind: virtual | hardware.  Virtual devices belong to an account from creation; hardware tokens
# imported by the operator have no account until a user enables them (and again after
# deactivation).  user_id NULL and is_root false: unassigned.  The seed is encrypted with the
# master key, its AAD bound to the serial number.
mfa_devices = sa.Table(
    "mfa_devices",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    sa.Column("is_root", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("name", MFA_NAME, nullable=False),
    sa.Column("name_key", MFA_NAME, nullable=False),
    sa.Column("path", PATH, nullable=False),
    sa.Column("serial", sa.String(256), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("seed_enc", sa.LargeBinary, nullable=False),
    sa.Column("algorithm", sa.String(8), nullable=False),
    sa.Column("digits", sa.Integer, nullable=False),
    sa.Column("period", sa.Integer, nullable=False),
    # steps the token's clock runs ahead of ours (negative: behind), learnt at enable/resync/use
    sa.Column("drift", sa.Integer, nullable=False, server_default="0"),
    sa.Column("partition_restriction", sa.String(16), nullable=True),
    sa.Column("enabled_at", TIME, nullable=True),
    sa.Column("created_at", TIME, nullable=False),
    # A virtual device is unique by path and name (CreateVirtualMFADevice), not by name alone.
    sa.UniqueConstraint("account_id", "path", "name_key", name="uq_mfa_devices_account_path_name"),
    sa.Index("ix_mfa_devices_user", "user_id"),
)

# One row per accepted (device, time step): a code is accepted once, on every node.
mfa_used_codes = sa.Table(
    "mfa_used_codes",
    metadata,
    sa.Column("serial", sa.String(256), primary_key=True),
    sa.Column("step", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("used_at", TIME, nullable=False),
)

# Wrong-code throttling: ``count`` wrong codes since the last success or lock; ``locks`` locks
# in a row (the delay doubles with each).
mfa_failures = sa.Table(
    "mfa_failures",
    metadata,
    sa.Column("serial", sa.String(256), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("locks", sa.Integer, nullable=False),
    sa.Column("locked_until", TIME, nullable=True),
    sa.Column("last_failure_at", TIME, nullable=True),
)

# The operator's record: successes, failures, locks, replays, enable/resync/deactivate, imports.
mfa_events = sa.Table(
    "mfa_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", TIME, nullable=False),
    sa.Column("serial", sa.String(256), nullable=False),
    sa.Column("account_id", ACCOUNT, nullable=True),
    sa.Column("principal_arn", ARN, nullable=True),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("source_ip", sa.String(64), nullable=True),
    sa.Index("ix_mfa_events_serial", "serial", "at"),
)

# --- web console --------------------------------------------------------------------------------
# Console sessions: ``id`` is the SHA-256 of the cookie value, so the table alone lets no one in.
# ``state``: ``mfa`` (password accepted, second factor due), ``password`` (a new password is due),
# ``active`` (signed in).  A switched-into role session rides in ``role_token_enc`` (encrypted).
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),  # NULL: the root
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("expires_at", TIME, nullable=False),
    sa.Column("mfa_at", TIME, nullable=True),
    sa.Column("mfa_serial", sa.String(256), nullable=True),
    sa.Column("role_token_enc", sa.LargeBinary, nullable=True),
    sa.Column("source_ip", sa.String(64), nullable=True),
    sa.Index("ix_console_sessions_user", "user_id"),
    sa.Index("ix_console_sessions_expires", "expires_at"),
)

# Sign-in throttling by user and by source address: ``failures`` since the last success.
console_throttle = sa.Table(
    "console_throttle",
    metadata,
    sa.Column("key", sa.String(320), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("locked_until", TIME, nullable=True),
    sa.Column("last_failure_at", TIME, nullable=False),
)

# Pending WebAuthn challenges: one per (binding, purpose); taken (deleted) when a response is checked.
webauthn_challenges = sa.Table(
    "webauthn_challenges",
    metadata,
    sa.Column("binding", sa.String(64), primary_key=True),
    sa.Column("purpose", sa.String(16), primary_key=True),
    sa.Column("challenge", sa.LargeBinary, nullable=False),
    sa.Column("expires_at", TIME, nullable=False),
)

# FIDO2 security keys and passkeys: the mfa_devices row (kind ``fido``) plus the credential.
webauthn_credentials = sa.Table(
    "webauthn_credentials",
    metadata,
    sa.Column("serial", sa.String(256), sa.ForeignKey("mfa_devices.serial", ondelete="CASCADE"), primary_key=True),
    sa.Column("credential_id", sa.LargeBinary, nullable=False, unique=True),
    sa.Column("user_handle", sa.LargeBinary, nullable=False),
    sa.Column("public_key", sa.LargeBinary, nullable=False),
    sa.Column("sign_count", sa.BigInteger, nullable=False),
    sa.Column("discoverable", sa.Boolean, nullable=False),
    sa.Column("backed_up", sa.Boolean, nullable=False),
    sa.Column("aaguid", sa.String(64), nullable=False),
    sa.Column("transports", sa.String(256), nullable=False),
    sa.Column("last_used_at", TIME, nullable=True),
    sa.Index("ix_webauthn_credentials_user_handle", "user_handle"),
)

# --- audit trail (iamd.audit) ---------------------------------------------------------------------
# One hash chain per database: ``seq`` 1, 2, 3 ... in chain order; ``record`` is the CloudTrail JSON,
# ``hash`` = SHA-256(prev_hash, seq, canonical record).  The other columns index what CloudTrail's
# LookupEvents filters on; they are derived from the record (which the hash covers).
audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column("event_time", TIME, nullable=False),
    sa.Column("event_source", sa.String(64), nullable=False),
    sa.Column("event_name", sa.String(128), nullable=False),
    sa.Column("username", sa.String(256), nullable=True),
    sa.Column("access_key_id", sa.String(128), nullable=True),
    sa.Column("read_only", sa.Boolean, nullable=False),
    sa.Column("error_code", sa.String(128), nullable=True),
    sa.Column("account_id", ACCOUNT, nullable=True),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("record", sa.Text, nullable=False),
    sa.Index("ix_audit_events_time", "event_time", "seq"),
    sa.Index("ix_audit_events_name", "event_name", "event_time"),
    sa.Index("ix_audit_events_username", "username", "event_time"),
    sa.Index("ix_audit_events_access_key", "access_key_id", "event_time"),
    sa.Index("ix_audit_events_source", "event_source", "event_time"),
    sa.Index("ix_audit_events_read_only", "read_only", "event_time"),
    sa.Index("ix_audit_events_error", "error_code", "event_time"),
    sa.Index("ix_audit_events_account", "account_id", "event_time"),
)

# The resources an event touched (LookupEvents' ResourceType and ResourceName), several per event.
audit_event_resources = sa.Table(
    "audit_event_resources",
    metadata,
    sa.Column("seq", sa.BigInteger, sa.ForeignKey("audit_events.seq", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("resource_type", sa.String(128), nullable=False),
    sa.Column("resource_name", sa.String(2048), nullable=False),
    sa.Column("resource_arn", ARN, nullable=True),
    sa.Index("ix_audit_event_resources_name", "resource_name"),
    sa.Index("ix_audit_event_resources_arn", "resource_arn"),
    sa.Index("ix_audit_event_resources_type", "resource_type"),
)


# --- AWS Organizations (iamd.orgs) ------------------------------------------------------------------
# An organization, its one root, its OU tree, its member accounts, invitations (handshakes), create-
# account requests, policies and where they are attached, the policy types enabled in the root, tags.
# Ids are AWS's: o-…, r-…, ou-…-…, p-…, h-…, car-…; a "node" is a root, an OU or a 12-digit account id
# (Organizations' ParentId / PolicyTargetId).  Deleting an organization (or its management account)
# deletes everything in it; the member accounts themselves stay, outside any organization.

ORG_ID = sa.String(34)
ORG_ROOT_ID = sa.String(34)
ORG_UNIT_ID = sa.String(68)
ORG_NODE = sa.String(100)
ORG_POLICY_ID = sa.String(130)
ORG_POLICY_TYPE = sa.String(48)


def _in_organization(nullable: bool = False) -> sa.Column[str]:
    return sa.Column(
        "organization_id", ORG_ID, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=nullable
    )


organizations = sa.Table(
    "organizations",
    metadata,
    sa.Column("id", ORG_ID, primary_key=True),
    sa.Column(
        "management_account_id",
        ACCOUNT,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    sa.Column("feature_set", sa.String(24), nullable=False),  # ALL | CONSOLIDATED_BILLING
    sa.Column("created_at", TIME, nullable=False),
)

org_roots = sa.Table(
    "org_roots",
    metadata,
    sa.Column("id", ORG_ROOT_ID, primary_key=True),
    sa.Column(
        "organization_id", ORG_ID, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, unique=True
    ),
    sa.Column("name", sa.String(128), nullable=False),
)

# OUs never move (Organizations has no operation for it), so each keeps its path from the organization
# down to itself ("o-…/r-…/ou-…/ou-…/") and its depth (1: a child of the root).
org_units = sa.Table(
    "org_units",
    metadata,
    sa.Column("id", ORG_UNIT_ID, primary_key=True),
    _in_organization(),
    sa.Column("parent_id", ORG_NODE, nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("path", sa.String(512), nullable=False),
    sa.Column("depth", sa.Integer, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.UniqueConstraint("parent_id", "name", name="uq_org_units_parent_name"),
    sa.Index("ix_org_units_organization", "organization_id"),
)

# Membership: an account belongs to at most one organization.  joined_method: INVITED | CREATED (the
# management account: INVITED, as AWS reports it).  state: ACTIVE | SUSPENDED | PENDING_CLOSURE | CLOSED.
org_accounts = sa.Table(
    "org_accounts",
    metadata,
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    _in_organization(),
    sa.Column("parent_id", ORG_NODE, nullable=False),
    sa.Column("email", sa.String(256), nullable=True),
    sa.Column("joined_method", sa.String(8), nullable=False),
    sa.Column("joined_at", TIME, nullable=False),
    sa.Column("state", sa.String(24), nullable=False),
    sa.Index("ix_org_accounts_organization", "organization_id"),
    sa.Index("ix_org_accounts_parent", "parent_id"),
)

# Invitations (action INVITE).  target_type: ACCOUNT | EMAIL; target_key is the target lower-cased;
# target_account_id the invited account when iamd knows it.  tags: JSON, put on the account when it joins.
org_handshakes = sa.Table(
    "org_handshakes",
    metadata,
    sa.Column("id", sa.String(34), primary_key=True),
    _in_organization(),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("target_type", sa.String(16), nullable=False),
    sa.Column("target_id", sa.String(256), nullable=False),
    sa.Column("target_key", sa.String(256), nullable=False),
    sa.Column("target_account_id", ACCOUNT, nullable=True),
    sa.Column("notes", sa.String(1024), nullable=True),
    sa.Column("tags", sa.Text, nullable=True),
    sa.Column("requested_at", TIME, nullable=False),
    sa.Column("expires_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.Index("ix_org_handshakes_organization", "organization_id", "requested_at"),
    sa.Index("ix_org_handshakes_target", "target_key"),
)

# CreateAccount requests: IN_PROGRESS, then SUCCEEDED (account_id) or FAILED (failure_reason).
org_create_account_requests = sa.Table(
    "org_create_account_requests",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    _in_organization(),
    sa.Column("account_name", sa.String(50), nullable=False),
    sa.Column("email", sa.String(64), nullable=False),
    sa.Column("role_name", sa.String(64), nullable=False),
    sa.Column("iam_user_access_to_billing", sa.String(8), nullable=False),
    sa.Column("tags", sa.Text, nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("failure_reason", sa.String(64), nullable=True),
    sa.Column("account_id", ACCOUNT, nullable=True),
    sa.Column("requested_at", TIME, nullable=False),
    sa.Column("completed_at", TIME, nullable=True),
    sa.Index("ix_org_create_account_requests_organization", "organization_id", "state"),
)

# Customer policies.  AWS managed ones (p-FullAWSAccess, p-RCPFullAWSAccess) are constants of iamd.orgs,
# so attachments name policy ids without a foreign key.
org_policies = sa.Table(
    "org_policies",
    metadata,
    sa.Column("id", ORG_POLICY_ID, primary_key=True),
    _in_organization(),
    sa.Column("type", ORG_POLICY_TYPE, nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("description", sa.String(512), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.UniqueConstraint("organization_id", "type", "name", name="uq_org_policies_organization_type_name"),
)

org_policy_attachments = sa.Table(
    "org_policy_attachments",
    metadata,
    sa.Column("policy_id", ORG_POLICY_ID, primary_key=True),
    sa.Column("target_id", ORG_NODE, primary_key=True),
    _in_organization(),
    sa.Column("policy_type", ORG_POLICY_TYPE, nullable=False),
    sa.Index("ix_org_policy_attachments_target", "target_id", "policy_type"),
    sa.Index("ix_org_policy_attachments_organization", "organization_id"),
)

org_policy_types = sa.Table(
    "org_policy_types",
    metadata,
    sa.Column("root_id", ORG_ROOT_ID, sa.ForeignKey("org_roots.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("policy_type", ORG_POLICY_TYPE, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
)

# Trusted access for AWS services (EnableAWSServiceAccess) and their delegated administrators.
org_service_access = sa.Table(
    "org_service_access",
    metadata,
    sa.Column("organization_id", ORG_ID, sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("service_principal", sa.String(128), primary_key=True),
    sa.Column("enabled_at", TIME, nullable=False),
)

org_delegated_admins = sa.Table(
    "org_delegated_admins",
    metadata,
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("service_principal", sa.String(128), primary_key=True),
    _in_organization(),
    sa.Column("enabled_at", TIME, nullable=False),
    sa.Index("ix_org_delegated_admins_organization", "organization_id"),
)

# Tags on roots, OUs, member accounts and customer policies (keys are case-sensitive in Organizations).
org_tags = sa.Table(
    "org_tags",
    metadata,
    sa.Column("resource_id", ORG_POLICY_ID, primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),
    _in_organization(),
    sa.Column("value", sa.String(256), nullable=False),
    sa.Index("ix_org_tags_organization", "organization_id"),
)

# --- workloads (issue 12): machines and containers bound to an instance profile or a role -----------

WORKLOAD_ID = sa.String(19)
"""``i-`` and 17 hex digits, so tools that expect EC2 instance ids take it."""
CERT_SERIAL = sa.String(40)
"""Hex serial number of a certificate a workload CA issued."""

# One CA per account (and rotation): its key sealed with the master key, like server certificates'.
workload_cas = sa.Table(
    "workload_cas",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("certificate_pem", sa.Text, nullable=False),
    sa.Column("private_key_enc", sa.LargeBinary, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("expires_at", TIME, nullable=False),
    sa.Column("retired_at", TIME, nullable=True),
    # Set when a newer CA took over issuing; a retired CA still verifies the certificates it issued.
    sa.Index("ix_workload_cas_account", "account_id", "created_at"),
)

workloads = sa.Table(
    "workloads",
    metadata,
    sa.Column("id", WORKLOAD_ID, primary_key=True),
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", NAME, nullable=True),
    sa.Column("kind", sa.String(16), nullable=False),
    # ``instance-profile`` (the role in the profile at each request) or ``role``.
    sa.Column("target_id", ID, nullable=False),
    # The instance profile's or role's id (no foreign key: deleting it leaves the workload refused).
    sa.Column("target_arn", ARN, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    # ``pending`` (registered, not enrolled), ``active``, ``deregistered``.
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("enrolled_at", TIME, nullable=True),
    sa.Column("deregistered_at", TIME, nullable=True),
    sa.Column("last_credentials_at", TIME, nullable=True),
    sa.Index("ix_workloads_account", "account_id", "created_at"),
)

# The only bearer secret of a workload: single use, short-lived, stored as its SHA-256.
workload_bootstrap_tokens = sa.Table(
    "workload_bootstrap_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("workload_id", WORKLOAD_ID, sa.ForeignKey("workloads.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("expires_at", TIME, nullable=False),
    sa.Column("used_at", TIME, nullable=True),
    sa.Index("ix_workload_bootstrap_tokens_workload", "workload_id"),
)

# Client certificates issued to workloads: the table is the revocation list (serial must be here, live).
workload_certificates = sa.Table(
    "workload_certificates",
    metadata,
    sa.Column("serial", CERT_SERIAL, primary_key=True),
    sa.Column("workload_id", WORKLOAD_ID, sa.ForeignKey("workloads.id", ondelete="CASCADE"), nullable=False),
    sa.Column("ca_id", ID, sa.ForeignKey("workload_cas.id", ondelete="CASCADE"), nullable=False),
    sa.Column("issued_at", TIME, nullable=False),
    sa.Column("expires_at", TIME, nullable=False),
    sa.Index("ix_workload_certificates_workload", "workload_id"),
)

# --- IAM Roles Anywhere (issue 12) -------------------------------------------------------------------

RA_ID = sa.String(36)
"""A Roles Anywhere resource id: a UUID."""

rolesanywhere_trust_anchors = sa.Table(
    "rolesanywhere_trust_anchors",
    metadata,
    sa.Column("id", RA_ID, primary_key=True),
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("source_type", sa.String(32), nullable=False),
    sa.Column("source_data", sa.Text, nullable=False),
    # The PEM bundle (``CERTIFICATE_BUNDLE``); for ``SELF_SIGNED_REPOSITORY`` the account's workload CAs.
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("notification_settings", sa.Text, nullable=True),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.Index("ix_rolesanywhere_trust_anchors_account", "account_id"),
)

rolesanywhere_profiles = sa.Table(
    "rolesanywhere_profiles",
    metadata,
    sa.Column("id", RA_ID, primary_key=True),
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("role_arns", sa.Text, nullable=False),
    sa.Column("managed_policy_arns", sa.Text, nullable=False),
    sa.Column("session_policy", sa.Text, nullable=True),
    sa.Column("duration_seconds", sa.Integer, nullable=True),
    sa.Column("require_instance_properties", sa.Boolean, nullable=False),
    sa.Column("accept_role_session_name", sa.Boolean, nullable=False),
    sa.Column("attribute_mappings", sa.Text, nullable=True),
    # JSON ``{"x509Subject": ["CN", ...], ...}``; NULL: AWS's default mapping.
    sa.Column("created_by", ARN, nullable=True),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.Index("ix_rolesanywhere_profiles_account", "account_id"),
)

rolesanywhere_crls = sa.Table(
    "rolesanywhere_crls",
    metadata,
    sa.Column("id", RA_ID, primary_key=True),
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column(
        "trust_anchor_id", RA_ID, sa.ForeignKey("rolesanywhere_trust_anchors.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("crl_der", sa.LargeBinary, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.Index("ix_rolesanywhere_crls_trust_anchor", "trust_anchor_id"),
)

# One subject per distinct certificate subject that got credentials; written in batches.
rolesanywhere_subjects = sa.Table(
    "rolesanywhere_subjects",
    metadata,
    sa.Column("id", RA_ID, primary_key=True),
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("x509_subject", sa.String(1024), nullable=False),
    sa.Column("certificates", sa.Text, nullable=False),
    sa.Column("instance_properties", sa.Text, nullable=True),
    sa.Column("credentials", sa.Text, nullable=True),
    sa.Column("last_seen_at", TIME, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.UniqueConstraint("account_id", "region", "x509_subject", name="uq_rolesanywhere_subjects_account_subject"),
)

rolesanywhere_tags = sa.Table(
    "rolesanywhere_tags",
    metadata,
    sa.Column("resource_id", RA_ID, primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("value", sa.String(256), nullable=False),
)


# --- identity providers and STS federation (iamd.services.iam.identity_providers, iamd.services.federation) ---

# IAM OIDC providers: ``url`` as IAM stores it (``host/path``, no scheme), unique per account (the ARN
# is ``arn:PARTITION:iam::ACCOUNT:oidc-provider/URL``); client ids and thumbprints as JSON arrays.
oidc_providers = sa.Table(
    "oidc_providers",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ACCOUNT, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("url", sa.String(255), nullable=False),
    sa.Column("client_ids", sa.Text, nullable=False),
    sa.Column("thumbprints", sa.Text, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.UniqueConstraint("account_id", "url", name="uq_oidc_providers_account_url"),
)

# IAM SAML providers: the metadata document as uploaded, what iamd reads out of it (entity id,
# validUntil), AssertionEncryptionMode, SAMLProviderUUID.
saml_providers = _named(
    "saml_providers",
    sa.Column("uuid", sa.String(64), nullable=False, unique=True),
    sa.Column("metadata_document", sa.Text, nullable=False),
    sa.Column("entity_id", sa.String(1024), nullable=False),
    sa.Column("valid_until", TIME, nullable=True),
    sa.Column("encryption_mode", sa.String(16), nullable=True),
    sa.Column("updated_at", TIME, nullable=False),
)

# A SAML provider's assertion-decryption keys (two at most): PEM encrypted with the master key.
saml_private_keys = sa.Table(
    "saml_private_keys",
    metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("provider_id", ID, sa.ForeignKey("saml_providers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("private_key_enc", sa.LargeBinary, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Index("ix_saml_private_keys_provider", "provider_id"),
)

# SAML assertions redeemed by AssumeRoleWithSAML: inserted in the STS call's transaction, so an
# assertion is accepted once on every node; rows past ``expires_at`` are deleted as they are met.
federation_replay = sa.Table(
    "federation_replay",
    metadata,
    sa.Column("provider_arn", ARN, primary_key=True),
    sa.Column("assertion_id", sa.String(256), primary_key=True),
    sa.Column("expires_at", TIME, nullable=False),
    sa.Index("ix_federation_replay_expires", "expires_at"),
)


# --- services that act for customers (issue 14) --------------------------------------------------------------

service_principals = sa.Table(
    "service_principals",
    metadata,
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("access_key_id", sa.String(32), nullable=False, unique=True),
    sa.Column("secret_enc", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", TIME, nullable=False),
)
