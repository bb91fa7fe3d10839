"""What a record may say about a request and its answer: secrets out, CloudTrail's names in.

Two guards, both always on:

* **The service model.**  ``ModelRenderer`` walks a request's parameters (or a handler's result)
  together with the operation's input (or output) shape from botocore's ``service-2`` model.  A
  member whose shape, or whose member reference, is marked ``sensitive`` in the model (passwords,
  secret access keys, private keys, TOTP seeds and QR codes, SAML assertions, web identity
  tokens, OAuth tokens...) is written as ``HIDDEN_DUE_TO_SECURITY_REASONS``, as CloudTrail writes
  it.  A member the shape does not declare is dropped: nothing unvetted reaches a record.
* **A deny-list of names** (``SENSITIVE_NAMES``) for what the models do not mark: session
  tokens (``SessionToken`` is a plain string in STS's model), TOTP codes (``AuthenticationCode1``,
  ``AuthenticationCode2``, ``TokenCode``), OAuth codes, WebAuthn assertions, cookies and
  ``Authorization`` headers.  It applies inside model-shaped values and to free-form data
  (``additionalEventData``) alike, matching names case-insensitively and ignoring ``-``/``_``.

Names come out as CloudTrail writes them: the model's member name with its first letter in lower
case (``RoleSessionName`` -> ``roleSessionName``, ``SAMLAssertionID`` -> ``sAMLAssertionID``);
timestamps as Java's default date format (``Jul 18, 2014 4:07:39 PM``), blobs in base64.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"

SENSITIVE_NAMES = frozenset(
    name.replace("-", "").replace("_", "").lower()
    for name in (
        # credentials
        "SecretAccessKey",
        "SecretKey",
        "SessionToken",
        "SecurityToken",
        "X-Amz-Security-Token",
        "Password",
        "NewPassword",
        "OldPassword",
        "CurrentPassword",
        "PasswordConfirmation",
        "PrivateKey",
        "ClientSecret",
        "AccessToken",
        "RefreshToken",
        "IdToken",
        "CodeVerifier",
        "DeviceCode",
        "AuthorizationCode",
        "Code",
        "SubjectToken",
        "TradeInToken",
        "WebIdentityToken",
        "SAMLAssertion",
        "SAMLResponse",
        # one-time codes and seeds
        "AuthenticationCode1",
        "AuthenticationCode2",
        "TokenCode",
        "Totp",
        "Otp",
        "MfaCode",
        "Base32StringSeed",
        "QRCodePNG",
        "Seed",
        # WebAuthn ceremonies
        "Assertion",
        "Credential",
        "ClientDataJSON",
        "AuthenticatorData",
        "AttestationObject",
        "Signature",
        "UserHandle",
        # HTTP
        "Authorization",
        "Cookie",
        "Set-Cookie",
    )
)
"""Names (normalised: lower case, no ``-``/``_``) whose values never reach a record."""


def is_sensitive_name(name: str) -> bool:
    return name.replace("-", "").replace("_", "").lower() in SENSITIVE_NAMES


def cloudtrail_name(member: str) -> str:
    """``RoleSessionName`` -> ``roleSessionName``: the model's name, first letter lower-cased."""
    return member[:1].lower() + member[1:]


def cloudtrail_time(value: float | int | datetime) -> str:
    """A timestamp as CloudTrail writes them in parameters and responses: ``Jul 18, 2014 4:07:39 PM``."""
    when = value if isinstance(value, datetime) else datetime.fromtimestamp(float(value), UTC)
    when = when.astimezone(UTC)
    hour = when.hour % 12 or 12
    half = "AM" if when.hour < 12 else "PM"
    return f"{when:%b} {when.day}, {when.year} {hour}:{when:%M:%S} {half}"


def redact_free(value: Any, secrets: Iterable[str] = ()) -> Any:
    """Free-form JSON-like data with every deny-listed name hidden and known secret values scrubbed."""
    return _Scrubber(secrets).free(value)


def scrub_values(value: Any, secrets: Iterable[str]) -> Any:
    """Replace every string that contains one of ``secrets`` (non-empty) with ``HIDDEN``."""
    return _Scrubber(secrets).values(value)


class _Scrubber:
    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = tuple(s for s in secrets if s)

    def text(self, text: str) -> str:
        return HIDDEN if any(s in text for s in self.secrets) else text

    def free(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): HIDDEN if is_sensitive_name(str(k)) else self.free(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.free(v) for v in value]
        return self.scalar(value)

    def values(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: self.values(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.values(v) for v in value]
        return self.scalar(value)

    def scalar(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes | bytearray):
            return self.text(base64.b64encode(bytes(value)).decode())
        if isinstance(value, datetime):
            return cloudtrail_time(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.text(str(value))


class ModelRenderer:
    """Renders model-shaped values for records, driven by botocore's ``service-2`` models.

    Models are loaded once per service and cached; the renderer is thread-safe.
    """

    def __init__(self) -> None:
        self._models: dict[str, Mapping[str, Any]] = {}
        self._lock = threading.Lock()

    def model(self, service: str) -> Mapping[str, Any]:
        model = self._models.get(service)
        if model is None:
            from botocore.loaders import Loader

            loaded: Mapping[str, Any] = Loader().load_service_model(service, "service-2")
            with self._lock:
                model = self._models.setdefault(service, loaded)
        return model

    def request_parameters(
        self, service: str, operation: str, params: Mapping[str, Any] | None, secrets: Iterable[str] = ()
    ) -> dict[str, Any] | None:
        """``requestParameters``: the operation's input, secrets hidden; None when there is none."""
        return self._render(service, operation, "input", params, secrets)

    def response_elements(
        self, service: str, operation: str, result: Mapping[str, Any] | None, secrets: Iterable[str] = ()
    ) -> dict[str, Any] | None:
        """``responseElements``: the operation's output, secrets hidden; None when there is none."""
        return self._render(service, operation, "output", result, secrets)

    def _render(
        self, service: str, operation: str, direction: str, value: Mapping[str, Any] | None, secrets: Iterable[str]
    ) -> dict[str, Any] | None:
        if not value:
            return None
        model = self.model(service)
        op = model["operations"].get(operation)
        if op is None:
            raise KeyError(f"{service} has no operation {operation}")
        ref = op.get(direction)
        if ref is None:
            return None
        walker = _ShapeWalker(model["shapes"], _Scrubber(secrets))
        rendered = walker.structure(model["shapes"][ref["shape"]], value)
        return rendered or None


class _ShapeWalker:
    def __init__(self, shapes: Mapping[str, Any], scrubber: _Scrubber) -> None:
        self.shapes = shapes
        self.scrubber = scrubber

    def structure(self, shape: Mapping[str, Any], value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            return {}
        members: Mapping[str, Any] = shape.get("members", {})
        out: dict[str, Any] = {}
        for name, item in value.items():
            ref = members.get(name)
            if ref is None or item is None:
                continue  # not in the model: never recorded
            target = self.shapes[ref["shape"]]
            key = cloudtrail_name(name)
            if ref.get("sensitive") or target.get("sensitive") or is_sensitive_name(name):
                out[key] = HIDDEN
            else:
                out[key] = self.value(target, item)
        return out

    def value(self, shape: Mapping[str, Any], value: Any) -> Any:
        kind = shape.get("type")
        if kind == "structure":
            return self.structure(shape, value)
        if kind == "list":
            member = self.shapes[shape["member"]["shape"]]
            items = value if isinstance(value, list | tuple) else [value]
            if shape["member"].get("sensitive") or member.get("sensitive"):
                return [HIDDEN for _ in items]
            return [self.value(member, v) for v in items]
        if kind == "map":
            if not isinstance(value, Mapping):
                return {}
            val_ref = shape["value"]
            val_shape = self.shapes[val_ref["shape"]]
            key_shape = self.shapes[shape["key"]["shape"]]
            hide_value = bool(val_ref.get("sensitive") or val_shape.get("sensitive"))
            hide_key = bool(key_shape.get("sensitive"))
            out: dict[str, Any] = {}
            for index, (k, v) in enumerate(value.items()):
                key = f"{HIDDEN}_{index}" if hide_key else str(k)
                out[key] = HIDDEN if hide_value else self.value(val_shape, v)
            return out
        if kind == "timestamp":
            if isinstance(value, int | float | datetime) and not isinstance(value, bool):
                return cloudtrail_time(value)
            return self.scrubber.scalar(value)
        if kind == "document":
            return self.scrubber.free(value)
        return self.scrubber.scalar(value)


DEFAULT_RENDERER = ModelRenderer()
"""The process's renderer (models are cached in it)."""
