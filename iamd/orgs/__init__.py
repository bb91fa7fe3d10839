"""AWS Organizations: the data and the rules, as plain functions over a connection.

One module per area, each function taking an ``OrgCall`` (the request's connection, the calling
account, the time, the partition, the quotas) and raising the AWS errors of
``iamd.core.errors``:

* ``organization``: create, describe, delete the organization; its root.
* ``units``: organizational units, parents and children.
* ``members``: member accounts: describe, list, move, remove, leave.
* ``create_account``: CreateAccount, asynchronous, and the ``OrganizationAccountAccessRole``.
* ``handshakes``: invitations: invite, accept, decline, cancel, list.
* ``policies``: SCPs, RCPs and the stored management policy types: content rules, attachments,
  enabling and disabling types in the root.
* ``delegation``: trusted service access and delegated administrators.
* ``tags``: tags on roots, OUs, accounts and policies.
* ``levels``: what every authorization decision needs (SCP and RCP levels, organization condition
  keys), cached per generation.
* ``views``: records as botocore's ``organizations`` model shapes them.

``docs/design/organizations.md`` says what is built and what the API handlers still need.
"""
