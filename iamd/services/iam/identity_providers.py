"""IAM identity providers: OpenID Connect providers and SAML providers, with their tags.

The rules for URLs, client ids and thumbprints are stage 1's (``iamd.auth.oidc``), metadata documents
are read by ``iamd.auth.saml_metadata``; this module keeps them in the store.  Trusted identity
propagation (``ContextProvider``, ``IdentityCenterInstanceArn``) is not built: a request that sets it
answers ``NotImplemented``.

Authorization: each operation declares its target (the provider's ARN with its tags, see
``_provider_target``); their Tag, Untag and List...Tags operations are declared in ``iam/tagging.py``.
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
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.registry import operation
from iamd.services.targets import Target, TargetBuilder, TargetQuery, any_resource, request_tags
from iamd.store import tables as t
from iamd.store.queries import entity_tags

OIDC = "oidc"
SAML = "saml"
"""Resource types of the tags table."""

MAX_SAML_PRIVATE_KEYS = 2
"""GetSAMLProvider's PrivateKeyList holds two keys at most (botocore: privateKeyList max 2)."""
_KEY_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


# --- authorization targets ------------------------------------------------------------------------
# Every operation below declares its target with one of these (AWS's Service Authorization Reference:
# resource types ``oidc-provider`` and ``saml-provider``; the List operations have none, ``*``).


def _provider_target(kind: str, param: str, resource_type: str) -> TargetBuilder:
    """The provider named by an ARN parameter, with its tags (``aws:ResourceTag/*``) when it exists."""

    def build(q: TargetQuery) -> Target | None:
        arn = q.params.get(param)
        if not isinstance(arn, str):
            return None
        if kind == "oidc-provider":
            row = _find_oidc(q.conn, q.account, q.partition, arn)
        else:
            row = _find_saml(q.conn, q.account, arn)
        return Target(arn, entity_tags(q.conn, resource_type, row.id) if row is not None else {})

    return build


def _new_oidc_provider(q: TargetQuery) -> Target | None:
    url = q.params.get("Url")
    if not isinstance(url, str):
        return None
    return Target(oidc_arn(q.partition, q.account, url.split("://", 1)[-1]))


def _new_saml_provider(q: TargetQuery) -> Target | None:
    name = q.params.get("Name")
    return Target(saml_arn(q.partition, q.account, name)) if isinstance(name, str) else None


OIDC_PROVIDER = _provider_target("oidc-provider", "OpenIDConnectProviderArn", OIDC)
SAML_PROVIDER = _provider_target("saml-provider", "SAMLProviderArn", SAML)


# --- shared -----------------------------------------------------------------------------------------


def _reject_identity_propagation(p: Mapping[str, Any]) -> None:
    given = [k for k in ("ContextProvider", "IdentityCenterInstanceArn") if p.get(k) is not None]
    given += [k for k in ("RemoveContextProvider", "RemoveIdentityCenterInstance") if p.get(k)]
    if given:
        raise NotImplementedOperation(f"iamd does not implement trusted identity propagation yet ({', '.join(given)})")


def _tags_out(ctx: OperationContext, resource_type: str, resource_id: str, out: dict[str, Any]) -> dict[str, Any]:
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


def lookup_oidc_provider(ctx: OperationContext, arn: str) -> Row[Any]:
    _check_arn(arn)
    row = _find_oidc(ctx.conn, ctx.account_id, ctx.partition, arn)
    if row is None:
        raise NoSuchEntity(f"OpenIDConnect Provider not found for arn {arn}")
    return row


def client_ids_of(row: Row[Any]) -> list[str]:
    ids: list[str] = json.loads(row.client_ids)
    return ids


def _forget_keys(ctx: OperationContext, url: str) -> None:
    """This node drops the issuer's cached keys (other nodes keep theirs until their TTL: they are the
    issuer's own keys, fetched from it; see docs/design/federation.md)."""
    ctx.services.jwks.forget("https://" + url)


@operation("iam", "CreateOpenIDConnectProvider", target=_new_oidc_provider, request_keys=(request_tags,))
def create_open_id_connect_provider(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    _reject_identity_propagation(p)
    url_given: str = p["Url"]
    url = normalize_provider_url(url_given, allow_http_loopback=ctx.services.federation.allow_http_loopback)
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


@operation("iam", "GetOpenIDConnectProvider", target=OIDC_PROVIDER)
def get_open_id_connect_provider(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = lookup_oidc_provider(ctx, p["OpenIDConnectProviderArn"])
    out: dict[str, Any] = {
        "Url": row.url,
        "ClientIDList": client_ids_of(row),
        "ThumbprintList": json.loads(row.thumbprints),
        "CreateDate": row.created_at,
    }
    return _tags_out(ctx, OIDC, row.id, out)


@operation("iam", "ListOpenIDConnectProviders", target=any_resource)
def list_open_id_connect_providers(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    op_ = t.oidc_providers
    urls = ctx.conn.execute(sa.select(op_.c.url).where(op_.c.account_id == ctx.account_id)).scalars()
    return {"OpenIDConnectProviderList": [{"Arn": oidc_arn(ctx.partition, ctx.account_id, u)} for u in sorted(urls)]}


@operation("iam", "DeleteOpenIDConnectProvider", target=OIDC_PROVIDER)
def delete_open_id_connect_provider(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = lookup_oidc_provider(ctx, p["OpenIDConnectProviderArn"])
    c.delete_all_tags(ctx, OIDC, row.id)
    ctx.conn.execute(t.oidc_providers.delete().where(t.oidc_providers.c.id == row.id))
    _forget_keys(ctx, row.url)
    return None


def _set_client_ids(ctx: OperationContext, row: Row[Any], client_ids: Sequence[str]) -> None:
    op_ = t.oidc_providers
    ctx.conn.execute(op_.update().where(op_.c.id == row.id).values(client_ids=json.dumps(list(client_ids))))


@operation("iam", "AddClientIDToOpenIDConnectProvider", target=OIDC_PROVIDER)
def add_client_id_to_open_id_connect_provider(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = lookup_oidc_provider(ctx, p["OpenIDConnectProviderArn"])
    client_id: str = p["ClientID"]
    current = client_ids_of(row)
    if client_id not in current:
        check_client_ids([*current, client_id])
        _set_client_ids(ctx, row, [*current, client_id])
    return None


@operation("iam", "RemoveClientIDFromOpenIDConnectProvider", target=OIDC_PROVIDER)
def remove_client_id_from_open_id_connect_provider(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = lookup_oidc_provider(ctx, p["OpenIDConnectProviderArn"])
    current = client_ids_of(row)
    if p["ClientID"] in current:
        _set_client_ids(ctx, row, [i for i in current if i != p["ClientID"]])
    return None


@operation("iam", "UpdateOpenIDConnectProviderThumbprint", target=OIDC_PROVIDER)
def update_open_id_connect_provider_thumbprint(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = lookup_oidc_provider(ctx, p["OpenIDConnectProviderArn"])
    thumbprints = check_thumbprints(p["ThumbprintList"])
    op_ = t.oidc_providers
    ctx.conn.execute(op_.update().where(op_.c.id == row.id).values(thumbprints=json.dumps(list(thumbprints))))
    _forget_keys(ctx, row.url)
    return None


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


def lookup_saml_provider(ctx: OperationContext, arn: str) -> Row[Any]:
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


def _add_private_key(ctx: OperationContext, provider_id: str, pem: str) -> None:
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


def saml_private_keys(ctx: OperationContext, provider_id: str) -> list[str]:
    """The provider's decryption keys as PEM (newest first), for encrypted assertions."""
    keys = t.saml_private_keys
    rows = ctx.conn.execute(sa.select(keys).where(keys.c.provider_id == provider_id).order_by(keys.c.created_at.desc()))
    return [ctx.box.decrypt_text(r.private_key_enc, aad=f"saml-private-key:{r.key_id}") for r in rows]


def _check_encryption(ctx: OperationContext, provider_id: str, mode: str | None) -> None:
    if mode != "Required":
        return
    keys = t.saml_private_keys
    if c.count(ctx, sa.select(keys.c.key_id).where(keys.c.provider_id == provider_id)) == 0:
        raise InvalidInput("AssertionEncryptionMode Required needs a private key: give AddPrivateKey.")


@operation("iam", "CreateSAMLProvider", target=_new_saml_provider, request_keys=(request_tags,))
def create_saml_provider(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
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


@operation("iam", "GetSAMLProvider", target=SAML_PROVIDER)
def get_saml_provider(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = lookup_saml_provider(ctx, p["SAMLProviderArn"])
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


@operation("iam", "ListSAMLProviders", target=any_resource)
def list_saml_providers(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    sp = t.saml_providers
    rows = ctx.conn.execute(sa.select(sp).where(sp.c.account_id == ctx.account_id).order_by(sp.c.name_key))
    entries = []
    for row in rows:
        entry: dict[str, Any] = {"Arn": saml_arn(ctx.partition, ctx.account_id, row.name), "CreateDate": row.created_at}
        if row.valid_until is not None:
            entry["ValidUntil"] = row.valid_until
        entries.append(entry)
    return {"SAMLProviderList": entries}


@operation("iam", "UpdateSAMLProvider", target=SAML_PROVIDER)
def update_saml_provider(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    _reject_identity_propagation(p)
    row = lookup_saml_provider(ctx, p["SAMLProviderArn"])
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


@operation("iam", "DeleteSAMLProvider", target=SAML_PROVIDER)
def delete_saml_provider(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = lookup_saml_provider(ctx, p["SAMLProviderArn"])
    c.delete_all_tags(ctx, SAML, row.id)
    ctx.conn.execute(t.saml_private_keys.delete().where(t.saml_private_keys.c.provider_id == row.id))
    ctx.conn.execute(t.saml_providers.delete().where(t.saml_providers.c.id == row.id))
    return None
