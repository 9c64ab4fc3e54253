"""One HTTP POST of a receiver, bounded by a deadline, and which of its failures may pass next time.

Errors never quote the URL: a Slack hook's URL is its credential. Redirects
are not followed (a signed body goes where it was configured to go, or
nowhere), and certificates are always verified.
"""

from __future__ import annotations

import asyncio
import ssl

import httpx

from failstream.alerting.lease import attempt_deadline_s
from failstream.alerting.smtp import MAX_REASON, SendFailure
from failstream.settings import AlertingSettings

#: Answers that say "not now" rather than "never": retried with backoff.
RETRYABLE_STATUSES = frozenset({408, 425, 429})


class HttpStatusError(Exception):
    """The receiver answered, with a status outside 2xx."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text[:200]}".strip())
        self.status = status


def new_client(settings: AlertingSettings) -> httpx.AsyncClient:
    """One pooled client for all receivers of a process; verify=True always."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.receiver_timeout_s),
        verify=True,
        follow_redirects=False,
        headers={"User-Agent": "failstream-alerting"},
    )


async def post(
    client: httpx.AsyncClient, url: str, content: bytes, headers: dict[str, str], timeout_s: float
) -> str:
    """POST once; the whole attempt is cut at half as long again as ``timeout_s`` (the lease counts on it)."""
    async with asyncio.timeout(attempt_deadline_s(timeout_s)):
        response = await client.post(url, content=content, headers=headers)
    if not 200 <= response.status_code < 300:
        raise HttpStatusError(response.status_code, response.text)
    return ""


def classify_http_failure(exc: BaseException, url: str = "") -> SendFailure:
    """Retry timeouts, lost connections, 408/425/429 and 5xx; never a TLS failure or another 4xx."""
    reason = f"{type(exc).__name__}: {exc}"
    if url:
        reason = reason.replace(url, "<receiver url>")
    reason = reason[:MAX_REASON]
    if isinstance(exc, HttpStatusError):
        return SendFailure(exc.status >= 500 or exc.status in RETRYABLE_STATUSES, reason)
    if isinstance(exc, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return SendFailure(False, f"TLS failure: {reason}"[:MAX_REASON])
    if isinstance(exc, httpx.TransportError | TimeoutError | ConnectionError):
        return SendFailure(True, reason)
    return SendFailure(False, reason)
