"""IAM identity providers: OpenID Connect providers and SAML providers, with their tags.

The rules for URLs, client ids and thumbprints are stage 1's (``iamd.auth.oidc``), metadata documents
are read by ``iamd.auth.saml_metadata``; this module keeps them in the store.  Trusted identity
propagation (``ContextProvider``, ``IdentityCenterInstanceArn``) is not built: a request that sets it
answers ``NotImplemented``.

Authorization targets: every operation of this module and the resource it acts on are listed in
:data:`TARGETS` (read by :func:`authorization_target`, which ``iamd.services.authz`` asks first).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.engine import Connection, Row

from iamd.auth.oidc import check_client_ids, check_thumbprints, normalize_provider_url
from iamd.auth.saml_metadata import parse_saml_metadata
from iamd.core.errors import (
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
    NotImplementedOperation,
)
from iamd.services.context import RequestContext
from iamd.services.iam import common as c
from iamd.services.registry import operation
from iamd.store import tables as t

OIDC = "oidc"
SAML = "saml"
"""Resource types of the tags table."""

MAX_SAML_PRIVATE_KEYS = 2
"""GetSAMLProvider's PrivateKeyList holds two keys at most (botocore: privateKeyList max 2)."""
_KEY_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


# --- authorization targets ------------------------------------------------------------------------
# operation -> (resource kind, where its name comes from).  ``arn``: the named provider's ARN
# parameter; ``url``: CreateOpenIDConnectProvider's Url; ``name``: CreateSAMLProvider's Name;
# ``*``: account-level (the List operations).

TARGETS: Mapping[str, tuple[str, str]] = {
    "CreateOpenIDConnectProvider": ("oidc-provider", "url"),
    "GetOpenIDConnectProvider": ("oidc-provider", "arn"),
    "ListOpenIDConnectProviders": ("oidc-provider", "*"),
    "DeleteOpenIDConnectProvider": ("oidc-provider", "arn"),
    "AddClientIDToOpenIDConnectProvider": ("oidc-provider", "arn"),
    "RemoveClientIDFromOpenIDConnectProvider": ("oidc-provider", "arn"),
    "UpdateOpenIDConnectProviderThumbprint": ("oidc-provider", "arn"),
    "TagOpenIDConnectProvider": ("oidc-provider", "arn"),
    "UntagOpenIDConnectProvider": ("oidc-provider", "arn"),
    "ListOpenIDConnectProviderTags": ("oidc-provider", "arn"),
    "CreateSAMLProvider": ("saml-provider", "name"),
    "GetSAMLProvider": ("saml-provider", "arn"),
    "ListSAMLProviders": ("saml-provider", "*"),
    "UpdateSAMLProvider": ("saml-provider", "arn"),
    "DeleteSAMLProvider": ("saml-provider", "arn"),
    "TagSAMLProvider": ("saml-provider", "arn"),
    "UntagSAMLProvider": ("saml-provider", "arn"),
    "ListSAMLProviderTags": ("saml-provider", "arn"),
}


def authorization_target(
    conn: Connection, action: str, params: Mapping[str, Any], account: str, partition: str
) -> tuple[str, dict[str, str]] | None:
    """(resource ARN, its tags) for one of this module's operations; None for any other operation."""
    target = TARGETS.get(action)
    if target is None:
        return None
    kind, source = target
    if source == "*":
        return "*", {}
    if source == "url":
        url = params.get("Url")
        name = url.split("://", 1)[-1] if isinstance(url, str) else ""
        return f"arn:{partition}:iam::{account}:{kind}/{name}", {}
    if source == "name":
        return f"arn:{partition}:iam::{account}:{kind}/{params.get('Name', '')}", {}
    arn = params.get("OpenIDConnectProviderArn" if kind == "oidc-provider" else "SAMLProviderArn")
    if not isinstance(arn, str):
        return "*", {}
    row = _find_oidc(conn, account, partition, arn) if kind == "oidc-provider" else _find_saml(conn, account, arn)
    if row is None:
        return arn, {}
    return arn, dict(_tag_rows(conn, OIDC if kind == "oidc-provider" else SAML, row.id))


def _tag_rows(conn: Connection, resource_type: str, resource_id: str) -> list[tuple[str, str]]:
    tt = t.tags
    rows = conn.execute(
        sa.select(tt.c.key, tt.c.value).where(tt.c.resource_type == resource_type, tt.c.resource_id == resource_id)
    )
    return [(r.key, r.value) for r in rows]


# --- shared -----------------------------------------------------------------------------------------


def _reject_identity_propagation(p: Mapping[str, Any]) -> None:
    given = [k for k in ("ContextProvider", "IdentityCenterInstanceArn") if p.get(k) is not None]
    given += [k for k in ("RemoveContextProvider", "RemoveIdentityCenterInstance") if p.get(k)]
    if given:
        raise NotImplementedOperation(f"iamd does not implement trusted identity propagation yet ({', '.join(given)})")


def _tags_out(ctx: RequestContext, resource_type: str, resource_id: str, out: dict[str, Any]) -> dict[str, Any]:
    tags = c.get_tags(ctx, resource_type, resource_id)
    if tags:
        out["Tags"] = tags
    return out


def _arn_account_and_resource(arn: str) -> tuple[str, str, str] | None:
    """(partition, account, resource) of an IAM ARN, or None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or parts[3]:
        return None
    return parts[1], parts[4], parts[5]


# --- OpenID Connect providers -------------------------------------------------------------------------


def oidc_arn(partition: str, account: str, url: str) -> str:
    return f"arn:{partition}:iam::{account}:oidc-provider/{url}"


def _find_oidc(conn: Connection, account: str, partition: str, arn: str) -> Row[Any] | None:
    parsed = _arn_account_and_resource(arn)
    if parsed is None or parsed[0] != partition or parsed[1] != account:
        return None
    url = parsed[2].removeprefix("oidc-provider/")
    if url == parsed[2] or not url:
        return None
    op_ = t.oidc_providers
    return conn.execute(sa.select(op_).where(op_.c.account_id == account, op_.c.url == url)).first()


def find_oidc_provider(conn: Connection, account: str, partition: str, url: str) -> Row[Any] | None:
    """The account's provider for ``url`` (``host/path`` as IAM stores it), for AssumeRoleWithWebIdentity."""
    op_ = t.oidc_providers
    return conn.execute(sa.select(op_).where(op_.c.account_id == account, op_.c.url == url)).first()


def _check_arn(arn: str) -> None:
    if _arn_account_and_resource(arn) is None:
        raise InvalidInput(f"ARN {arn} is not valid.")


def _get_oidc(ctx: RequestContext, arn: str) -> Row[Any]:
    _check_arn(arn)
    row = _find_oidc(ctx.conn, ctx.account_id, ctx.partition, arn)
    if row is None:
        raise NoSuchEntity(f"OpenIDConnect Provider not found for arn {arn}")
    return row


def client_ids_of(row: Row[Any]) -> list[str]:
    ids: list[str] = json.loads(row.client_ids)
    return ids


def _forget_keys(ctx: RequestContext, url: str) -> None:
    """This node drops the issuer's cached keys (other nodes keep theirs until their TTL: they are the
    issuer's own keys, fetched from it; see docs/design/federation.md)."""
    ctx.runtime.jwks.forget("https://" + url)


@operation("iam", "CreateOpenIDConnectProvider")
def create_open_id_connect_provider(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    _reject_identity_propagation(p)
    url_given: str = p["Url"]
    url = normalize_provider_url(url_given, allow_http_loopback=ctx.settings.federation.allow_http_loopback)
    client_ids = list(dict.fromkeys(p.get("ClientIDList") or []))
    check_client_ids(client_ids)
    thumbprints = check_thumbprints(p.get("ThumbprintList") or [])
    tags = p.get("Tags") or []
    c.validate_tags(tags)
    op_ = t.oidc_providers
    if find_oidc_provider(ctx.conn, ctx.account_id, ctx.partition, url) is not None:
        raise EntityAlreadyExists(f"Provider with url {url_given} already exists.")
    c.check_quota(
        ctx,
        "oidc_providers",
        c.count(ctx, sa.select(op_.c.id).where(op_.c.account_id == ctx.account_id)),
        "Cannot exceed quota for OpenIdConnectProvidersPerAccount: {limit}",
    )
    provider_id = secrets.token_hex(16)
    ctx.conn.execute(
        op_.insert().values(
            id=provider_id,
            account_id=ctx.account_id,
            url=url,
            client_ids=json.dumps(client_ids),
            thumbprints=json.dumps(list(thumbprints)),
            created_at=ctx.now(),
        )
    )
    c.put_tags(ctx, OIDC, provider_id, tags)
    _forget_keys(ctx, url)
    return _tags_out(ctx, OIDC, provider_id, {"OpenIDConnectProviderArn": oidc_arn(ctx.partition, ctx.account_id, url)})


@operation("iam", "GetOpenIDConnectProvider")
def get_open_id_connect_provider(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = _get_oidc(ctx, p["OpenIDConnectProviderArn"])
    out: dict[str, Any] = {
        "Url": row.url,
        "ClientIDList": client_ids_of(row),
        "ThumbprintList": json.loads(row.thumbprints),
        "CreateDate": row.created_at,
    }
    return _tags_out(ctx, OIDC, row.id, out)


@operation("iam", "ListOpenIDConnectProviders")
def list_open_id_connect_providers(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    op_ = t.oidc_providers
    urls = ctx.conn.execute(sa.select(op_.c.url).where(op_.c.account_id == ctx.account_id)).scalars()
    return {"OpenIDConnectProviderList": [{"Arn": oidc_arn(ctx.partition, ctx.account_id, u)} for u in sorted(urls)]}


@operation("iam", "DeleteOpenIDConnectProvider")
def delete_open_id_connect_provider(ctx: RequestContext, p: dict[str, Any]) -> None:
    row = _get_oidc(ctx, p["OpenIDConnectProviderArn"])
    c.delete_all_tags(ctx, OIDC, row.id)
    ctx.conn.execute(t.oidc_providers.delete().where(t.oidc_providers.c.id == row.id))
    _forget_keys(ctx, row.url)
    return None


def _set_client_ids(ctx: RequestContext, row: Row[Any], client_ids: Sequence[str]) -> None:
    op_ = t.oidc_providers
    ctx.conn.execute(op_.update().where(op_.c.id == row.id).values(client_ids=json.dumps(list(client_ids))))


@operation("iam", "AddClientIDToOpenIDConnectProvider")
def add_client_id_to_open_id_connect_provider(ctx: RequestContext, p: dict[str, Any]) -> None:
    row = _get_oidc(ctx, p["OpenIDConnectProviderArn"])
    client_id: str = p["ClientID"]
    current = client_ids_of(row)
    if client_id not in current:
        check_client_ids([*current, client_id])
        _set_client_ids(ctx, row, [*current, client_id])
    return None


@operation("iam", "RemoveClientIDFromOpenIDConnectProvider")
def remove_client_id_from_open_id_connect_provider(ctx: RequestContext, p: dict[str, Any]) -> None:
    row = _get_oidc(ctx, p["OpenIDConnectProviderArn"])
    current = client_ids_of(row)
    if p["ClientID"] in current:
        _set_client_ids(ctx, row, [i for i in current if i != p["ClientID"]])
    return None


@operation("iam", "UpdateOpenIDConnectProviderThumbprint")
def update_open_id_connect_provider_thumbprint(ctx: RequestContext, p: dict[str, Any]) -> None:
    row = _get_oidc(ctx, p["OpenIDConnectProviderArn"])
    thumbprints = check_thumbprints(p["ThumbprintList"])
    op_ = t.oidc_providers
    ctx.conn.execute(op_.update().where(op_.c.id == row.id).values(thumbprints=json.dumps(list(thumbprints))))
    _forget_keys(ctx, row.url)
    return None


@operation("iam", "TagOpenIDConnectProvider")
def tag_open_id_connect_provider(ctx: RequestContext, p: dict[str, Any]) -> None:
    row = _get_oidc(ctx, p["OpenIDConnectProviderArn"])
    c.put_tags(ctx, OIDC, row.id, p["Tags"])
    return None


@operation("iam", "UntagOpenIDConnectProvider")
def untag_open_id_connect_provider(ctx: RequestContext, p: dict[str, Any]) -> None:
    row = _get_oidc(ctx, p["OpenIDConnectProviderArn"])
    c.remove_tags(ctx, OIDC, row.id, p["TagKeys"])
    return None


@operation("iam", "ListOpenIDConnectProviderTags")
def list_open_id_connect_provider_tags(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = _get_oidc(ctx, p["OpenIDConnectProviderArn"])
    return c.list_tags_page(ctx, OIDC, row.id, p)


# --- SAML providers ---------------------------------------------------------------------------------


def saml_arn(partition: str, account: str, name: str) -> str:
    return f"arn:{partition}:iam::{account}:saml-provider/{name}"


def _find_saml(conn: Connection, account: str, arn: str) -> Row[Any] | None:
    parsed = _arn_account_and_resource(arn)
    if parsed is None or parsed[1] != account or not parsed[2].startswith("saml-provider/"):
        return None
    name = parsed[2].removeprefix("saml-provider/")
    sp = t.saml_providers
    row = conn.execute(sa.select(sp).where(sp.c.account_id == account, sp.c.name_key == name.lower())).first()
    return row if row is not None and row.name == name else None


def find_saml_provider(conn: Connection, account: str, partition: str, arn: str) -> Row[Any] | None:
    """The SAML provider named by ``arn`` in ``account`` (AssumeRoleWithSAML's PrincipalArn)."""
    parsed = _arn_account_and_resource(arn)
    if parsed is None or parsed[0] != partition:
        return None
    return _find_saml(conn, account, arn)


def _get_saml(ctx: RequestContext, arn: str) -> Row[Any]:
    _check_arn(arn)
    row = find_saml_provider(ctx.conn, ctx.account_id, ctx.partition, arn)
    if row is None:
        raise NoSuchEntity(f"SAMLProvider not found for arn {arn}")
    return row


def _random_key_id(length: int = 26) -> str:
    return "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(length))


def _parse_private_key(pem: str) -> None:
    """AddPrivateKey: an unencrypted PEM RSA private key (SAML assertion encryption uses RSA key transport)."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise InvalidInput("The private key must be an unencrypted PEM RSA private key.") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidInput("The private key must be an unencrypted PEM RSA private key.")


def _add_private_key(ctx: RequestContext, provider_id: str, pem: str) -> None:
    _parse_private_key(pem)
    keys = t.saml_private_keys
    held = c.count(ctx, sa.select(keys.c.key_id).where(keys.c.provider_id == provider_id))
    if held >= MAX_SAML_PRIVATE_KEYS:
        raise LimitExceeded(
            f"Cannot exceed quota for PrivateKeysPerSAMLProvider: {MAX_SAML_PRIVATE_KEYS}. "
            "Remove a private key before adding a new one."
        )
    key_id = _random_key_id()
    ctx.conn.execute(
        keys.insert().values(
            key_id=key_id,
            provider_id=provider_id,
            private_key_enc=ctx.box.encrypt_text(pem, aad=f"saml-private-key:{key_id}"),
            created_at=ctx.now(),
        )
    )


def saml_private_keys(ctx: RequestContext, provider_id: str) -> list[str]:
    """The provider's decryption keys as PEM (newest first), for encrypted assertions."""
    keys = t.saml_private_keys
    rows = ctx.conn.execute(sa.select(keys).where(keys.c.provider_id == provider_id).order_by(keys.c.created_at.desc()))
    return [ctx.box.decrypt_text(r.private_key_enc, aad=f"saml-private-key:{r.key_id}") for r in rows]


def _check_encryption(ctx: RequestContext, provider_id: str, mode: str | None) -> None:
    if mode != "Required":
        return
    keys = t.saml_private_keys
    if c.count(ctx, sa.select(keys.c.key_id).where(keys.c.provider_id == provider_id)) == 0:
        raise InvalidInput("AssertionEncryptionMode Required needs a private key: give AddPrivateKey.")


@operation("iam", "CreateSAMLProvider")
def create_saml_provider(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    _reject_identity_propagation(p)
    name: str = p["Name"]
    meta = parse_saml_metadata(p["SAMLMetadataDocument"])
    tags = p.get("Tags") or []
    c.validate_tags(tags)
    sp = t.saml_providers
    if c.find_named(ctx, sp, name) is not None:
        raise EntityAlreadyExists(f"Provider with name {name} already exists.")
    c.check_quota(
        ctx,
        "saml_providers",
        c.count(ctx, sa.select(sp.c.id).where(sp.c.account_id == ctx.account_id)),
        "Cannot exceed quota for SAMLProvidersPerAccount: {limit}",
    )
    provider_id = secrets.token_hex(16)
    now = ctx.now()
    ctx.conn.execute(
        sp.insert().values(
            id=provider_id,
            account_id=ctx.account_id,
            name=name,
            name_key=name.lower(),
            path="/",
            created_at=now,
            updated_at=now,
            uuid=_random_key_id(),
            metadata_document=p["SAMLMetadataDocument"],
            entity_id=meta.entity_id,
            valid_until=meta.valid_until,
            encryption_mode=p.get("AssertionEncryptionMode"),
        )
    )
    if p.get("AddPrivateKey"):
        _add_private_key(ctx, provider_id, p["AddPrivateKey"])
    _check_encryption(ctx, provider_id, p.get("AssertionEncryptionMode"))
    c.put_tags(ctx, SAML, provider_id, tags)
    return _tags_out(ctx, SAML, provider_id, {"SAMLProviderArn": saml_arn(ctx.partition, ctx.account_id, name)})


@operation("iam", "GetSAMLProvider")
def get_saml_provider(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = _get_saml(ctx, p["SAMLProviderArn"])
    out: dict[str, Any] = {
        "SAMLProviderUUID": row.uuid,
        "SAMLMetadataDocument": row.metadata_document,
        "CreateDate": row.created_at,
    }
    if row.valid_until is not None:
        out["ValidUntil"] = row.valid_until
    if row.encryption_mode:
        out["AssertionEncryptionMode"] = row.encryption_mode
    keys = t.saml_private_keys
    held = ctx.conn.execute(
        sa.select(keys.c.key_id, keys.c.created_at).where(keys.c.provider_id == row.id).order_by(keys.c.created_at)
    ).all()
    if held:
        out["PrivateKeyList"] = [{"KeyId": k.key_id, "Timestamp": k.created_at} for k in held]
    return _tags_out(ctx, SAML, row.id, out)


@operation("iam", "ListSAMLProviders")
def list_saml_providers(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    sp = t.saml_providers
    rows = ctx.conn.execute(sa.select(sp).where(sp.c.account_id == ctx.account_id).order_by(sp.c.name_key))
    entries = []
    for row in rows:
        entry: dict[str, Any] = {"Arn": saml_arn(ctx.partition, ctx.account_id, row.name), "CreateDate": row.created_at}
        if row.valid_until is not None:
            entry["ValidUntil"] = row.valid_until
        entries.append(entry)
    return {"SAMLProviderList": entries}


@operation("iam", "UpdateSAMLProvider")
def update_saml_provider(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    _reject_identity_propagation(p)
    row = _get_saml(ctx, p["SAMLProviderArn"])
    changes = ("SAMLMetadataDocument", "AssertionEncryptionMode", "AddPrivateKey", "RemovePrivateKey")
    if not any(p.get(k) for k in changes):
        raise InvalidInput(f"Specify at least one of {', '.join(changes)}.")
    values: dict[str, Any] = {"updated_at": ctx.now()}
    if p.get("SAMLMetadataDocument"):
        meta = parse_saml_metadata(p["SAMLMetadataDocument"])
        values.update(
            metadata_document=p["SAMLMetadataDocument"], entity_id=meta.entity_id, valid_until=meta.valid_until
        )
    if p.get("AssertionEncryptionMode"):
        values["encryption_mode"] = p["AssertionEncryptionMode"]
    keys = t.saml_private_keys
    if p.get("RemovePrivateKey"):
        removed = ctx.conn.execute(
            keys.delete().where(keys.c.provider_id == row.id, keys.c.key_id == p["RemovePrivateKey"])
        )
        if removed.rowcount == 0:
            raise InvalidInput(f"The private key {p['RemovePrivateKey']} does not belong to this provider.")
    if p.get("AddPrivateKey"):
        _add_private_key(ctx, row.id, p["AddPrivateKey"])
    sp = t.saml_providers
    ctx.conn.execute(sp.update().where(sp.c.id == row.id).values(**values))
    _check_encryption(ctx, row.id, values.get("encryption_mode", row.encryption_mode))
    return {"SAMLProviderArn": saml_arn(ctx.partition, ctx.account_id, row.name)}


@operation("iam", "DeleteSAMLProvider")
def delete_saml_provider(ctx: RequestContext, p: dict[str, Any]) -> None:
    row = _get_saml(ctx, p["SAMLProviderArn"])
    c.delete_all_tags(ctx, SAML, row.id)
    ctx.conn.execute(t.saml_private_keys.delete().where(t.saml_private_keys.c.provider_id == row.id))
    ctx.conn.execute(t.saml_providers.delete().where(t.saml_providers.c.id == row.id))
    return None


@operation("iam", "TagSAMLProvider")
def tag_saml_provider(ctx: RequestContext, p: dict[str, Any]) -> None:
    row = _get_saml(ctx, p["SAMLProviderArn"])
    c.put_tags(ctx, SAML, row.id, p["Tags"])
    return None


@operation("iam", "UntagSAMLProvider")
def untag_saml_provider(ctx: RequestContext, p: dict[str, Any]) -> None:
    row = _get_saml(ctx, p["SAMLProviderArn"])
    c.remove_tags(ctx, SAML, row.id, p["TagKeys"])
    return None


@operation("iam", "ListSAMLProviderTags")
def list_saml_provider_tags(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = _get_saml(ctx, p["SAMLProviderArn"])
    return c.list_tags_page(ctx, SAML, row.id, p)
