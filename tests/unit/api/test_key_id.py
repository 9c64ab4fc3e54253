from __future__ import annotations

import hashlib

from failstream.api.auth import key_id


def test_key_id_is_the_first_12_hex_digits_of_the_keys_sha256() -> None:
    assert key_id("s3cret-admin") == hashlib.sha256(b"s3cret-admin").hexdigest()[:12]
    assert len(key_id("k")) == 12 and "k" != key_id("k")


def test_different_keys_have_different_ids() -> None:
    assert len({key_id(f"admin-{i}") for i in range(1000)}) == 1000
