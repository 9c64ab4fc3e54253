"""EmailNotifier: hands a message to the SMTP relay (aiosmtplib) and says if a failure is retryable.

TLS is ``none`` (local sink), ``starttls`` or ``implicit``; when on, the
server certificate is always verified (system CAs plus ``smtp_ca_file``).
The password is passed to aiosmtplib only, never logged or recorded.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib
from aiosmtplib import SMTPResponse

from failstream.alerting import metrics
from failstream.alerting.exceptions import AlertingConfigError
from failstream.alerting.lease import attempt_deadline_s
from failstream.settings import AlertingSettings, cleartext_smtp_login_refusal

MAX_REASON = 500


@dataclass(frozen=True)
class SendFailure:
    retryable: bool
    reason: str
    #: no SMTP session was made (refused, unreachable, connect timed out): the relay is down, and
    #: the email waits for it without using up its attempts, which are for what the relay answers
    unreachable: bool = False


def _code_text(code: int, message: str) -> str:
    return f"{code} {message}".strip()


def classify_failure(exc: BaseException) -> SendFailure:
    """Retry only what may work next time: no connection, timeouts, 4xx replies.

    A connect failure is an outage of the relay (``unreachable``); a 4xx
    greeting is the relay answering, and counts as an attempt like any 4xx.

    5xx replies, refused recipients, TLS verification and unsupported
    features are permanent: retrying them would only delay the dead letter.
    """
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.recipient}: {_code_text(r.code, r.message)}" for r in exc.recipients)
        retryable = bool(codes) and all(400 <= c < 500 for c in codes)
        return SendFailure(retryable, f"recipients refused: {detail}"[:MAX_REASON])
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"{type(exc).__name__}: {_code_text(exc.code, exc.message)}"[:MAX_REASON]
        return SendFailure(400 <= exc.code < 500, text)
    if isinstance(exc, ssl.SSLError):
        return SendFailure(False, f"TLS failure: {exc}"[:MAX_REASON])
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return SendFailure(False, f"not supported by the server: {exc}"[:MAX_REASON])
    connect_failed = isinstance(exc, aiosmtplib.SMTPConnectError | ConnectionRefusedError)
    if connect_failed and not isinstance(exc.__cause__, ssl.SSLError):
        return SendFailure(True, f"relay unreachable: {type(exc).__name__}: {exc}"[:MAX_REASON], True)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | ConnectionError | OSError):
        if isinstance(exc.__cause__, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return SendFailure(False, f"TLS failure: {exc}"[:MAX_REASON])
        return SendFailure(True, f"{type(exc).__name__}: {exc}"[:MAX_REASON])
    return SendFailure(False, f"{type(exc).__name__}: {exc}"[:MAX_REASON])


class EmailNotifier:
    def __init__(self, settings: AlertingSettings) -> None:
        refusal = cleartext_smtp_login_refusal(settings)  # settings built in code skip the validator
        if refusal:
            raise AlertingConfigError(refusal)
        self._settings = settings
        self._tls_context: ssl.SSLContext | None = None
        if settings.smtp_tls != "none":
            context = ssl.create_default_context()
            if settings.smtp_ca_file:
                try:
                    context.load_verify_locations(cafile=settings.smtp_ca_file)
                except (OSError, ssl.SSLError) as exc:
                    raise AlertingConfigError(
                        f"FAILSTREAM_SMTP_CA_FILE {settings.smtp_ca_file}: {exc}"
                    ) from exc
            self._tls_context = context

    async def send(self, message: EmailMessage, recipients: list[str]) -> str:
        """Send once; raises on failure. Returns a note on recipients refused while others accepted."""
        started, result = time.perf_counter(), "error"
        try:
            # the lease is sized on this deadline (alerting.lease)
            async with asyncio.timeout(attempt_deadline_s(self._settings.smtp_timeout_s)):
                refused, _ = await self._send(message, recipients)
            result = "ok"
        finally:
            metrics.SMTP_ATTEMPT_SECONDS.labels(result).observe(time.perf_counter() - started)
        return "; ".join(f"{rcpt}: {_code_text(r.code, r.message)}" for rcpt, r in refused.items())

    async def _send(
        self, message: EmailMessage, recipients: list[str]
    ) -> tuple[dict[str, SMTPResponse], str]:
        s = self._settings
        return await aiosmtplib.send(
            message,
            sender=s.smtp_from,
            recipients=recipients,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_user or None,
            password=s.smtp_password.get_secret_value() or None,
            use_tls=s.smtp_tls == "implicit",
            start_tls=s.smtp_tls == "starttls",
            validate_certs=True,
            tls_context=self._tls_context,
            timeout=s.smtp_timeout_s,
        )
