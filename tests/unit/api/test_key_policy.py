from __future__ import annotations

import pytest
from pydantic import SecretStr

from failstream.api.key_policy import KnownKeysOffLoopback, NoApiKeys, check_bind, is_loopback
from failstream.settings import Settings


def _settings(
    host: str, read: tuple[str, ...] | None = None, admin: tuple[str, ...] | None = None
) -> Settings:
    keys: dict[str, object] = {"api_host": host}
    if read is not None:
        keys["api_read_keys"] = tuple(SecretStr(k) for k in read)
    if admin is not None:
        keys["api_admin_keys"] = tuple(SecretStr(k) for k in admin)
    return Settings(**keys)  # type: ignore[arg-type]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_addresses_are_loopback(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "example.com", "", "::ffff:10.0.0.1"]
)
def test_any_other_bind_address_is_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_dev_keys_on_loopback_start_and_say_so_in_one_line() -> None:
    notice = check_bind(_settings("127.0.0.1"))
    assert notice is not None and "\n" not in notice
    assert "dev-read-key" in notice and "loopback" in notice


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5"])
def test_dev_keys_off_loopback_are_refused_naming_the_settings(host: str) -> None:
    with pytest.raises(KnownKeysOffLoopback) as refused:
        check_bind(_settings(host))
    message = str(refused.value)
    assert "\n" not in message and host in message
    assert "FAILSTREAM_API_READ_KEYS" in message and "FAILSTREAM_API_ADMIN_KEYS" in message


def test_one_known_key_among_own_keys_is_still_refused_off_loopback() -> None:
    with pytest.raises(KnownKeysOffLoopback) as refused:
        check_bind(_settings("0.0.0.0", read=("r-" + "x" * 30,), admin=("a-" + "y" * 30, "dev-read-key")))
    assert "FAILSTREAM_API_ADMIN_KEYS" in str(refused.value)
    assert "FAILSTREAM_API_READ_KEYS" not in str(refused.value)


def test_own_keys_serve_any_address_without_a_notice() -> None:
    assert check_bind(_settings("0.0.0.0", read=("r" * 32,), admin=("a" * 32,))) is None


def test_own_read_keys_and_no_admin_key_is_a_read_only_api() -> None:
    assert check_bind(_settings("0.0.0.0", read=("r" * 32,), admin=())) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_both_key_lists_set_empty_is_refused_on_any_address(host: str) -> None:
    with pytest.raises(NoApiKeys):
        check_bind(_settings(host, read=(), admin=("",)))


def test_empty_key_settings_from_the_environment_are_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAILSTREAM_API_READ_KEYS", "")
    monkeypatch.setenv("FAILSTREAM_API_ADMIN_KEYS", "")
    with pytest.raises(NoApiKeys):
        check_bind(Settings(_env_file=None))  # type: ignore[call-arg]
