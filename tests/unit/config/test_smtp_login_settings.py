from __future__ import annotations

import pytest
from pydantic import ValidationError

from failstream.settings import Settings, cleartext_smtp_login_refusal


def test_a_login_over_cleartext_smtp_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAILSTREAM_SMTP_USER", "alerting")
    monkeypatch.setenv("FAILSTREAM_SMTP_TLS", "none")
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "FAILSTREAM_SMTP_ALLOW_CLEARTEXT_LOGIN" in str(refused.value)


def test_a_cleartext_login_is_allowed_only_when_a_setting_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAILSTREAM_SMTP_USER", "alerting")
    monkeypatch.setenv("FAILSTREAM_SMTP_ALLOW_CLEARTEXT_LOGIN", "true")
    assert Settings(_env_file=None).smtp_allow_cleartext_login  # type: ignore[call-arg]


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_a_login_over_tls_needs_no_permission(tls: str) -> None:
    assert cleartext_smtp_login_refusal(Settings(smtp_user="alerting", smtp_tls=tls)) is None  # type: ignore[arg-type]


def test_no_login_over_cleartext_is_fine() -> None:
    assert cleartext_smtp_login_refusal(Settings(smtp_tls="none")) is None


def test_settings_copied_past_the_validator_are_still_caught_by_the_function() -> None:
    copied = Settings().model_copy(update={"smtp_user": "alerting", "smtp_tls": "none"})
    assert cleartext_smtp_login_refusal(copied) is not None
