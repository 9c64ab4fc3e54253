"""`failstream doctor` checks the relay as alerting will use it: the configured CA, no cleartext login."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from pydantic import SecretStr

from failstream.doctor import check_smtp
from failstream.settings import Settings
from tests.integration.services import free_port, make_certificates

pytestmark = pytest.mark.integration


class _Handler:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    return AuthResult(success=data.login == b"alerting" and data.password == b"s3cret")


@pytest.fixture
def starttls_relay(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A real STARTTLS relay whose certificate only our test CA trusts; login required."""
    ca, cert, key = make_certificates(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(str(cert), str(key))
    port = free_port()
    controller = Controller(
        _Handler(),
        hostname="127.0.0.1",
        port=port,
        tls_context=tls,
        require_starttls=True,
        auth_required=True,
        authenticator=_authenticate,
    )
    controller.start()
    yield port, ca
    controller.stop()


def _relay_settings(port: int, **update: Any) -> Settings:
    base = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_tls": "starttls", "smtp_user": "alerting"}
    return Settings(smtp_password=SecretStr("s3cret"), **{**base, **update})  # type: ignore[arg-type]


def test_doctor_trusts_the_relay_through_the_configured_ca_file(starttls_relay: tuple[int, Path]) -> None:
    port, ca = starttls_relay
    result = check_smtp(_relay_settings(port, smtp_ca_file=str(ca)))
    assert result.ok, result.line()
    assert str(ca) in result.line()


def test_doctor_without_the_ca_file_names_the_setting_to_fix(starttls_relay: tuple[int, Path]) -> None:
    port, _ = starttls_relay
    result = check_smtp(_relay_settings(port))
    assert not result.ok
    assert "not trusted" in result.line() and "FAILSTREAM_SMTP_CA_FILE" in result.line()


def test_doctor_names_a_ca_file_that_does_not_load(starttls_relay: tuple[int, Path], tmp_path: Path) -> None:
    port, _ = starttls_relay
    missing = tmp_path / "no-such-ca.pem"
    result = check_smtp(_relay_settings(port, smtp_ca_file=str(missing)))
    assert not result.ok and str(missing) in result.line()


def test_doctor_never_sends_a_password_in_cleartext(starttls_relay: tuple[int, Path]) -> None:
    port, _ = starttls_relay
    cleartext = _relay_settings(port, smtp_ca_file="").model_copy(update={"smtp_tls": "none"})
    result = check_smtp(cleartext)
    assert not result.ok and "FAILSTREAM_SMTP_ALLOW_CLEARTEXT_LOGIN" in result.line()
