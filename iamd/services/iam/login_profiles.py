"""Console passwords: login profiles, ChangePassword and the account password policy.

Passwords are hashed with argon2id (argon2-cffi's defaults) and never returned or logged.
``check_password`` and ``verify_password`` are the reusable pieces the web console uses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Connection, Row

from iamd.core.errors import (
    EntityAlreadyExists,
    InvalidUserType,
    NoSuchEntity,
    PasswordPolicyViolation,
    ValidationError,
)
from iamd.core.principal import PrincipalKind
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.iam.access_keys import resolve_owner
from iamd.services.registry import operation
from iamd.services.targets import any_resource, calling_user, existing, first
from iamd.store import tables as t

_HASHER = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) defaults

POLICY_VIOLATION = "Password does not conform to the account password policy."
# AWS's definition of "non-alphanumeric" for RequireSymbols.
SYMBOLS = frozenset("!@#$%^&*()_+-=[]{}|'")
DEFAULT_MINIMUM_LENGTH = 6  # UpdateAccountPasswordPolicy's default when the parameter is omitted
BUILTIN_MINIMUM_LENGTH = 8  # AWS's default policy when the account has none


# --- hashing ---------------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return str(_HASHER.hash(password))


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash`` (constant-time comparison inside argon2)."""
    try:
        return bool(_HASHER.verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# --- the account password policy -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    minimum_length: int = DEFAULT_MINIMUM_LENGTH
    require_symbols: bool = False
    require_numbers: bool = False
    require_uppercase: bool = False
    require_lowercase: bool = False
    allow_users_to_change: bool = False
    max_age: int | None = None
    reuse_prevention: int | None = None
    hard_expiry: bool | None = None

    @classmethod
    def from_json(cls, text: str) -> PasswordPolicy:
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def output(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "MinimumPasswordLength": self.minimum_length,
            "RequireSymbols": self.require_symbols,
            "RequireNumbers": self.require_numbers,
            "RequireUppercaseCharacters": self.require_uppercase,
            "RequireLowercaseCharacters": self.require_lowercase,
            "AllowUsersToChangePassword": self.allow_users_to_change,
            "ExpirePasswords": self.max_age is not None,
        }
        if self.max_age is not None:
            out["MaxPasswordAge"] = self.max_age
        if self.reuse_prevention is not None:
            out["PasswordReusePrevention"] = self.reuse_prevention
        if self.hard_expiry is not None:
            out["HardExpiry"] = self.hard_expiry
        return out


def load_policy(conn: Connection, account_id: str) -> PasswordPolicy | None:
    """An account's custom password policy, or None when it has none."""
    pp = t.password_policies
    text = conn.execute(sa.select(pp.c.document).where(pp.c.account_id == account_id)).scalar()
    return PasswordPolicy.from_json(text) if text else None


def get_policy(ctx: OperationContext) -> PasswordPolicy | None:
    """The caller's account's custom password policy, or None when it has none."""
    return load_policy(ctx.conn, ctx.account_id)


def _character_classes(password: str) -> tuple[bool, bool, bool, bool]:
    upper = any("A" <= ch <= "Z" for ch in password)
    lower = any("a" <= ch <= "z" for ch in password)
    digit = any("0" <= ch <= "9" for ch in password)
    symbol = any(ch in SYMBOLS for ch in password)
    return upper, lower, digit, symbol


def check_password(ctx: OperationContext, password: str) -> None:
    """Raise PasswordPolicyViolation unless ``password`` satisfies the account's password policy.

    Without a custom policy AWS's default applies: at least 8 characters, at least three of
    upper case, lower case, digits and symbols, and not the account's name or root e-mail.
    """
    policy = get_policy(ctx)
    upper, lower, digit, symbol = _character_classes(password)
    if policy is None:
        account = ctx.conn.execute(
            sa.select(t.accounts.c.name, t.accounts.c.root_email).where(t.accounts.c.id == ctx.account_id)
        ).first()
        forbidden = {v.lower() for v in (account or ()) if v}
        if (
            len(password) < BUILTIN_MINIMUM_LENGTH
            or sum((upper, lower, digit, symbol)) < 3
            or password.lower() in forbidden
        ):
            raise PasswordPolicyViolation(POLICY_VIOLATION)
        return
    if (
        len(password) < policy.minimum_length
        or (policy.require_uppercase and not upper)
        or (policy.require_lowercase and not lower)
        or (policy.require_numbers and not digit)
        or (policy.require_symbols and not symbol)
    ):
        raise PasswordPolicyViolation(POLICY_VIOLATION)


def _check_reuse(ctx: OperationContext, profile: Row[Any], password: str) -> None:
    """With PasswordReusePrevention set, the current password may not be chosen again.

    (The store keeps only the current hash, so older passwords are not remembered.)
    """
    policy = get_policy(ctx)
    if policy is not None and policy.reuse_prevention and verify_password(profile.password_hash, password):
        raise PasswordPolicyViolation(
            "Policy constraint violation with password reuse prevention during password change."
        )


@operation("iam", "UpdateAccountPasswordPolicy", target=any_resource)
def update_account_password_policy(ctx: OperationContext, p: dict[str, Any]) -> None:
    policy = PasswordPolicy(
        minimum_length=int(p.get("MinimumPasswordLength") or DEFAULT_MINIMUM_LENGTH),
        require_symbols=bool(p.get("RequireSymbols", False)),
        require_numbers=bool(p.get("RequireNumbers", False)),
        require_uppercase=bool(p.get("RequireUppercaseCharacters", False)),
        require_lowercase=bool(p.get("RequireLowercaseCharacters", False)),
        allow_users_to_change=bool(p.get("AllowUsersToChangePassword", False)),
        max_age=int(p["MaxPasswordAge"]) if p.get("MaxPasswordAge") else None,
        reuse_prevention=int(p["PasswordReusePrevention"]) if p.get("PasswordReusePrevention") else None,
        hard_expiry=bool(p["HardExpiry"]) if p.get("HardExpiry") is not None else None,
    )
    pp = t.password_policies
    document = policy.to_json()
    updated = ctx.conn.execute(pp.update().where(pp.c.account_id == ctx.account_id).values(document=document))
    if updated.rowcount == 0:
        ctx.conn.execute(pp.insert().values(account_id=ctx.account_id, document=document))
    return None


@operation("iam", "GetAccountPasswordPolicy", target=any_resource)
def get_account_password_policy(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    policy = get_policy(ctx)
    if policy is None:
        raise NoSuchEntity(f"The Password Policy with domain name {ctx.account_id} cannot be found.")
    return {"PasswordPolicy": policy.output()}


@operation("iam", "DeleteAccountPasswordPolicy", target=any_resource)
def delete_account_password_policy(ctx: OperationContext, p: dict[str, Any]) -> None:
    pp = t.password_policies
    deleted = ctx.conn.execute(pp.delete().where(pp.c.account_id == ctx.account_id))
    if deleted.rowcount == 0:
        raise NoSuchEntity("The account policy with name PasswordPolicy cannot be found.")
    return None


# --- login profiles ----------------------------------------------------------------------------------------


def _user_for_profile(ctx: OperationContext, p: Mapping[str, Any]) -> Row[Any]:
    owner = resolve_owner(ctx, p, allow_root=False)
    assert owner.user is not None
    return owner.user


def find_profile(ctx: OperationContext, user_id: str) -> Row[Any] | None:
    lp = t.login_profiles
    return ctx.conn.execute(sa.select(lp).where(lp.c.user_id == user_id)).first()


def _get_profile(ctx: OperationContext, user: Row[Any]) -> Row[Any]:
    row = find_profile(ctx, user.id)
    if row is None:
        raise NoSuchEntity(f"Login Profile for User {user.name} cannot be found.")
    return row


def _profile_output(user: Row[Any], profile: Row[Any]) -> dict[str, Any]:
    return {
        "UserName": user.name,
        "CreateDate": profile.created_at,
        "PasswordResetRequired": bool(profile.reset_required),
    }


def _require_password(p: Mapping[str, Any]) -> str:
    password = p.get("Password")
    if not password:
        raise ValidationError(
            "1 validation error detected: Value null at 'password' failed to satisfy constraint: "
            "Member must not be null"
        )
    return str(password)


@operation("iam", "CreateLoginProfile", target=first(existing("user", "UserName"), any_resource))
def create_login_profile(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    user = _user_for_profile(ctx, p)
    password = _require_password(p)
    if find_profile(ctx, user.id) is not None:
        raise EntityAlreadyExists(f"Login Profile for user {user.name} already exists.")
    check_password(ctx, password)
    now = ctx.now()
    lp = t.login_profiles
    ctx.conn.execute(
        lp.insert().values(
            user_id=user.id,
            password_hash=hash_password(password),
            reset_required=bool(p.get("PasswordResetRequired", False)),
            created_at=now,
            password_changed_at=now,
        )
    )
    return {"LoginProfile": _profile_output(user, _get_profile(ctx, user))}


@operation("iam", "GetLoginProfile", target=first(existing("user", "UserName"), any_resource))
def get_login_profile(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    user = _user_for_profile(ctx, p)
    return {"LoginProfile": _profile_output(user, _get_profile(ctx, user))}


@operation("iam", "UpdateLoginProfile", target=existing("user", "UserName"))
def update_login_profile(ctx: OperationContext, p: dict[str, Any]) -> None:
    user = c.get_user(ctx, p["UserName"])
    _get_profile(ctx, user)
    values: dict[str, Any] = {}
    password = p.get("Password")
    if password is not None:
        check_password(ctx, str(password))
        values.update(password_hash=hash_password(str(password)), password_changed_at=ctx.now())
    if p.get("PasswordResetRequired") is not None:
        values["reset_required"] = bool(p["PasswordResetRequired"])
    if values:
        lp = t.login_profiles
        ctx.conn.execute(lp.update().where(lp.c.user_id == user.id).values(**values))
    if password is not None:
        _end_console_sessions(ctx, user.id)  # an administrator's new password signs the user out
    return None


def _end_console_sessions(ctx: OperationContext, user_id: str) -> None:
    ctx.conn.execute(t.console_sessions.delete().where(t.console_sessions.c.user_id == user_id))


@operation("iam", "DeleteLoginProfile", target=first(existing("user", "UserName"), any_resource))
def delete_login_profile(ctx: OperationContext, p: dict[str, Any]) -> None:
    user = _user_for_profile(ctx, p)
    _get_profile(ctx, user)
    lp = t.login_profiles
    ctx.conn.execute(lp.delete().where(lp.c.user_id == user.id))
    _end_console_sessions(ctx, user.id)  # no console access any more: no console session either
    return None


def change_password(ctx: OperationContext, user: Row[Any], old_password: str, new_password: str) -> None:
    """The IAM user ``user`` changes its own password (API and console)."""
    profile = _get_profile(ctx, user)
    if not verify_password(profile.password_hash, old_password):
        raise InvalidUserType("The old password was incorrect.")
    check_password(ctx, new_password)
    _check_reuse(ctx, profile, new_password)
    lp = t.login_profiles
    ctx.conn.execute(
        lp.update()
        .where(lp.c.user_id == user.id)
        .values(password_hash=hash_password(new_password), password_changed_at=ctx.now(), reset_required=False)
    )


@operation("iam", "ChangePassword", target=calling_user)
def change_password_op(ctx: OperationContext, p: dict[str, Any]) -> None:
    caller = ctx.caller
    if caller.kind is not PrincipalKind.USER or not caller.entity_id:
        raise InvalidUserType("Only IAM users can change their own password with ChangePassword.")
    user = ctx.conn.execute(
        sa.select(t.users).where(t.users.c.id == caller.entity_id, t.users.c.account_id == ctx.account_id)
    ).first()
    if user is None:
        raise NoSuchEntity(f"The user with name {caller.name} cannot be found.")
    change_password(ctx, user, p["OldPassword"], p["NewPassword"])
    return None
