"""The attributes of a (verified) SAML assertion that AWS reads: roles, session, tags, and the ``saml:*`` keys.

AWS's attributes (names are case-sensitive, as AWS documents them):

* ``https://aws.amazon.com/SAML/Attributes/Role``: ``role-arn,provider-arn`` pairs (either order), one or more;
* ``.../RoleSessionName`` (one value, 2-64 of ``[\\w+=,.@-]``), ``.../SessionDuration`` (900-43200 seconds),
  ``.../SourceIdentity`` (one value, like a session name);
* ``.../PrincipalTag:KEY`` (one value each) and ``.../TransitiveTagKeys`` (keys among those tags).

Other attributes map to trust-policy keys per AWS's tables (eduPerson/eduOrg OIDs, Active Directory claim
URIs, X.500 OIDs): ``saml:edupersonaffiliation``, ``saml:cn``, ``saml:mail``...
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from iamd.auth.saml_xml import Element, tag, text_of
from iamd.core.errors import InvalidIdentityToken

AWS_ATTRIBUTES = "https://aws.amazon.com/SAML/Attributes/"
ROLE = AWS_ATTRIBUTES + "Role"
ROLE_SESSION_NAME = AWS_ATTRIBUTES + "RoleSessionName"
SESSION_DURATION = AWS_ATTRIBUTES + "SessionDuration"
SOURCE_IDENTITY = AWS_ATTRIBUTES + "SourceIdentity"
PRINCIPAL_TAG = AWS_ATTRIBUTES + "PrincipalTag:"
TRANSITIVE_TAG_KEYS = AWS_ATTRIBUTES + "TransitiveTagKeys"

MAX_SESSION_TAGS = 50
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_PROVIDER_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:saml-provider/[\w._-]{1,128}$")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
_TAG_KEY = re.compile(r"^[\w\s.:/=+\-@]{1,128}$")
_TAG_VALUE = re.compile(r"^[\w\s.:/=+\-@]{0,256}$")

# AWS's "Mapping SAML attributes to AWS trust policy context keys": attribute Name -> (key, multivalued).
# The X.500 rows are as AWS lists them (bare OIDs; "2.4.5.42" and "0.9.2342.19200300.100.1.45" are AWS's
# own spelling), plus their urn:oid: forms and the correct givenName OID 2.5.4.42 that IdPs actually send.
ATTRIBUTE_KEYS: dict[str, tuple[str, bool]] = {
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.1": ("edupersonaffiliation", True),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.2": ("edupersonnickname", True),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.3": ("edupersonorgdn", False),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.4": ("edupersonorgunitdn", True),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.5": ("edupersonprimaryaffiliation", False),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.6": ("edupersonprincipalname", False),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.7": ("edupersonentitlement", True),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.8": ("edupersonprimaryorgunitdn", False),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.9": ("edupersonscopedaffiliation", True),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.10": ("edupersontargetedid", True),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.11": ("edupersonassurance", True),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.2": ("eduorghomepageuri", True),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.3": ("eduorgidentityauthnpolicyuri", True),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.4": ("eduorglegalname", True),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.5": ("eduorgsuperioruri", True),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.6": ("eduorgwhitepagesuri", True),
    "urn:oid:2.5.4.3": ("cn", True),
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name": ("name", False),
    "http://schemas.xmlsoap.org/claims/CommonName": ("commonName", False),
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname": ("givenName", False),
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname": ("surname", False),
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": ("mail", False),
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/primarygroupsid": ("uid", False),
    "2.5.4.3": ("commonName", False),
    "2.5.4.4": ("surname", False),
    "2.4.5.42": ("givenName", False),
    "2.5.4.42": ("givenName", False),
    "2.5.4.45": ("x500UniqueIdentifier", False),
    "0.9.2342.19200300100.1.1": ("uid", False),
    "0.9.2342.19200300100.1.3": ("mail", False),
    "0.9.2342.19200300.100.1.45": ("organizationStatus", False),
    "0.9.2342.19200300100.1.45": ("organizationStatus", False),
    "urn:oid:2.5.4.4": ("surname", False),
    "urn:oid:2.5.4.42": ("givenName", False),
    "urn:oid:2.5.4.45": ("x500UniqueIdentifier", False),
    "urn:oid:0.9.2342.19200300100.1.1": ("uid", False),
    "urn:oid:0.9.2342.19200300100.1.3": ("mail", False),
}


@dataclass(frozen=True)
class SamlAttributes:
    roles: tuple[tuple[str, str], ...]
    """(role ARN, provider ARN) pairs."""
    role_session_name: str
    session_duration: int | None = None
    source_identity: str | None = None
    principal_tags: Mapping[str, str] = field(default_factory=dict)
    transitive_tag_keys: tuple[str, ...] = ()
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Every attribute by Name, all its values."""
    condition_keys: Mapping[str, str | list[str]] = field(default_factory=dict)
    """The ``saml:*`` keys the mapped attributes fill."""


def _collect(assertion: Element) -> dict[str, tuple[str, ...]]:
    values: dict[str, list[str]] = {}
    for statement in assertion.findall(tag("saml", "AttributeStatement")):
        if statement.findall(tag("saml", "EncryptedAttribute")):
            raise InvalidIdentityToken("Encrypted SAML attributes are not supported by this provider")
        for attribute in statement.findall(tag("saml", "Attribute")):
            name = attribute.get("Name")
            if not name:
                raise InvalidIdentityToken("A SAML attribute has no Name")
            values.setdefault(name, []).extend(
                text_of(v).strip() for v in attribute.findall(tag("saml", "AttributeValue"))
            )
    return {k: tuple(v) for k, v in values.items()}


def _single(values: Mapping[str, tuple[str, ...]], name: str) -> str | None:
    found = values.get(name)
    if found is None:
        return None
    if len(found) != 1:
        raise InvalidIdentityToken(f"The SAML attribute {name} must have exactly one value")
    return found[0]


def parse_role_pair(value: str) -> tuple[str, str]:
    """``role-arn,provider-arn`` in either order -> (role ARN, provider ARN)."""
    parts = [p.strip() for p in value.split(",")]
    if len(parts) == 2:
        for role, provider in (parts, parts[::-1]):
            if _ROLE_ARN.match(role) and _PROVIDER_ARN.match(provider):
                return role, provider
    raise InvalidIdentityToken(f"Invalid value of the {ROLE} attribute: {value}")


def _tags(values: Mapping[str, tuple[str, ...]]) -> tuple[dict[str, str], tuple[str, ...]]:
    tags: dict[str, str] = {}
    seen: set[str] = set()
    for name, found in values.items():
        if not name.startswith(PRINCIPAL_TAG):
            continue
        key = name[len(PRINCIPAL_TAG) :]
        if not _TAG_KEY.match(key) or key.lower().startswith("aws:"):
            raise InvalidIdentityToken(f"Invalid session tag key: {key}")
        if key.lower() in seen:
            raise InvalidIdentityToken("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        seen.add(key.lower())
        if len(found) != 1:
            raise InvalidIdentityToken(f"Session tag {key} must have exactly one value")
        if not _TAG_VALUE.match(found[0]):
            raise InvalidIdentityToken(f"Invalid value for session tag {key}")
        tags[key] = found[0]
    if len(tags) > MAX_SESSION_TAGS:
        raise InvalidIdentityToken(f"A SAML assertion can carry at most {MAX_SESSION_TAGS} session tags")
    transitive = values.get(TRANSITIVE_TAG_KEYS, ())
    for key in transitive:
        if key.lower() not in seen:
            raise InvalidIdentityToken(f"The transitive tag key {key} is not among the session tags.")
    return tags, tuple(dict.fromkeys(transitive))


def mapped_condition_keys(values: Mapping[str, tuple[str, ...]]) -> dict[str, str | list[str]]:
    keys: dict[str, str | list[str]] = {}
    for name, found in values.items():
        mapping = ATTRIBUTE_KEYS.get(name)
        if mapping is None or not found:
            continue
        key, multivalued = mapping
        keys.setdefault(f"saml:{key}", list(found) if multivalued else found[0])
    return keys


def read_attributes(assertion: Element) -> SamlAttributes:
    values = _collect(assertion)
    pairs = values.get(ROLE)
    if not pairs:
        raise InvalidIdentityToken(f"The SAML assertion has no {ROLE} attribute")
    roles = tuple(dict.fromkeys(parse_role_pair(v) for v in pairs))
    session_name = _single(values, ROLE_SESSION_NAME)
    if session_name is None:
        raise InvalidIdentityToken(f"The SAML assertion has no {ROLE_SESSION_NAME} attribute")
    if not _SESSION_NAME.match(session_name):
        raise InvalidIdentityToken(
            "RoleSessionName must be 2 to 64 characters: letters, digits and _+=,.@- (no spaces)"
        )
    duration_text = _single(values, SESSION_DURATION)
    duration: int | None = None
    if duration_text is not None:
        if not duration_text.isdigit() or not 900 <= int(duration_text) <= 43200:
            raise InvalidIdentityToken("SessionDuration must be a number of seconds from 900 to 43200")
        duration = int(duration_text)
    source = _single(values, SOURCE_IDENTITY)
    if source is not None and (not _SESSION_NAME.match(source) or source.lower().startswith("aws:")):
        raise InvalidIdentityToken("SourceIdentity must be 2 to 64 characters: letters, digits and _+=,.@-")
    tags, transitive = _tags(values)
    return SamlAttributes(
        roles=roles,
        role_session_name=session_name,
        session_duration=duration,
        source_identity=source,
        principal_tags=tags,
        transitive_tag_keys=transitive,
        values=values,
        condition_keys=mapped_condition_keys(values),
    )
