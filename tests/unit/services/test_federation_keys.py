"""A node forgets an issuer's cached keys when the provider it verified tokens for was replaced or changed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from iamd.services import federation


def test_replaced_or_changed_providers_lose_their_cached_keys() -> None:
    forgotten: list[str] = []
    ctx: Any = SimpleNamespace(services=SimpleNamespace(jwks=SimpleNamespace(forget=forgotten.append)))

    def row(row_id: str, thumbprints: str = "[]") -> Any:
        return SimpleNamespace(account_id="111122223333", url="issuer.example.com", id=row_id, thumbprints=thumbprints)

    federation._forget_keys_of_replaced_provider(ctx, row("a"))
    federation._forget_keys_of_replaced_provider(ctx, row("a"))
    assert forgotten == []  # first sight and the same provider: the cache stays
    federation._forget_keys_of_replaced_provider(ctx, row("b"))  # deleted and created again
    federation._forget_keys_of_replaced_provider(ctx, row("b", '["' + "a" * 40 + '"]'))  # new thumbprints
    assert forgotten == ["https://issuer.example.com"] * 2
