"""A cache load that races a write is never stored as fresh (store.cache.LoadingCache).

Each test forces the race: the load reads the store, then (before the load returns) a write
commits and the caches are cleared as the generation watcher clears them; the value the load
read is the old one.  The next request must see the write, not the raced load.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.auth.credentials import CredentialResolver
from iamd.core.crypto import SecretBox
from iamd.core.errors import InvalidClientTokenId
from iamd.services import principal_policies
from iamd.services.principal_policies import PrincipalPolicies, PrincipalPolicyCache
from iamd.store import tables as t
from iamd.store.cache import LoadingCache
from iamd.store.db import Database
from tests.unit.services.conftest import seed_user

KEY = "AKIAEXAMPLE000000001"
ALLOW = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'


def test_a_load_that_raced_a_clear_is_returned_but_not_stored() -> None:
    cache: LoadingCache[str, str] = LoadingCache()
    loads: list[str] = []

    def racing_load() -> str:
        loads.append("racing")
        cache.clear()  # a write committed while this load was reading
        return "old"

    assert cache.get("k", racing_load) == "old"
    assert cache.get("k", lambda: loads.append("fresh") or "new") == "new"
    assert cache.get("k", lambda: "never called") == "new"
    assert loads == ["racing", "fresh"]


def test_store_refuses_a_value_loaded_before_a_clear() -> None:
    cache: LoadingCache[str, int] = LoadingCache()
    loaded_at = cache.generation
    cache.clear()
    assert cache.store("k", 1, loaded_at) is False
    assert cache.store("k", 2, cache.generation) is True
    assert cache.get("k", lambda: 3) == 2


def test_a_full_cache_starts_over_rather_than_grow() -> None:
    cache: LoadingCache[int, int] = LoadingCache(max_entries=2)
    for key in range(3):
        cache.get(key, lambda key=key: key)
    assert cache.get(0, lambda: -1) == -1  # dropped when the third entry came in


def _seed(db: Database, box: SecretBox) -> None:
    seed_user(db, "u-1", "alice", KEY, box.encrypt_text("secret", aad=KEY))


def _racing(load: Callable[[Connection, str], PrincipalPolicies], write: Callable[[], None]) -> Callable[..., object]:
    def wrapped(conn: Connection, entity_id: str) -> PrincipalPolicies:
        value = load(conn, entity_id)  # what the store held when the load read it
        write()
        return value

    return wrapped


def test_principal_policies_racing_a_policy_change(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    box = SecretBox(os.urandom(32))
    _seed(db, box)
    cache = PrincipalPolicyCache(db)

    def grant() -> None:
        with db.write() as conn:
            conn.execute(
                sa.insert(t.inline_policies).values(
                    principal_type="user", principal_id="u-1", name_key="all", name="all", document=ALLOW
                )
            )
        cache.clear()  # what the generation watcher does once the write is seen

    monkeypatch.setattr(principal_policies, "load_user", _racing(principal_policies.load_user, grant))
    assert cache.for_user("u-1").identity == ()  # the raced load: read before the grant
    monkeypatch.undo()
    assert [p.policy_id for p in cache.for_user("u-1").identity] == ["user/alice/inline/all"]


def test_credentials_racing_a_key_deactivation(db: Database) -> None:
    box = SecretBox(os.urandom(32))
    _seed(db, box)
    resolver = CredentialResolver(db, box, "aws")
    real_load = resolver._load

    def deactivate_while_loading(access_key_id: str) -> object:
        value = real_load(access_key_id)
        with db.write() as conn:
            conn.execute(t.access_keys.update().where(t.access_keys.c.id == KEY).values(status="Inactive"))
        resolver.clear()
        return value

    resolver._load = deactivate_while_loading  # type: ignore[method-assign,assignment]
    assert resolver.resolve(KEY).principal.name == "alice"  # the request that raced the write
    resolver._load = real_load  # type: ignore[method-assign]
    with pytest.raises(InvalidClientTokenId):
        resolver.resolve(KEY)  # a stored stale hit would still say Active here
