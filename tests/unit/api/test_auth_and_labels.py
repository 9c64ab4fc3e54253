from __future__ import annotations

from pydantic import SecretStr

from failstream.api.auth import scope_of
from failstream.api.labels import decode_counts
from failstream.settings import Settings


def test_scopes_from_keys() -> None:
    settings = Settings(
        api_read_keys=(SecretStr("r1"), SecretStr("r2")),
        api_admin_keys=(SecretStr("a1"),),
    )
    assert [scope_of(settings, k) for k in ("r1", "r2", "a1")] == ["read", "read", "admin"]
    assert [scope_of(settings, k) for k in (None, "", "r", "r1 ", "A1", "é")] == [None] * 6


def test_an_empty_configured_key_never_matches() -> None:
    settings = Settings(api_read_keys=(SecretStr(""),), api_admin_keys=(SecretStr(""),))
    assert scope_of(settings, "") is None


def test_stored_label_escapes_are_undone() -> None:
    assert decode_counts({"billing\uff0ev2": 3, "\uff04weird": 1, "demo": 2, "bad": "x"}) == {
        "billing.v2": 3,
        "$weird": 1,
        "demo": 2,
    }
