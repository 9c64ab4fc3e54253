from __future__ import annotations

import asyncio

import aiosmtplib

from failstream.alerting.retry import RelayWait, RetryPolicy, next_delay, send_with_retry
from failstream.alerting.smtp import SendFailure, classify_failure
from failstream.dependency import Backoff, Dependency

POLICY = RetryPolicy(attempts=3, base_s=1.0, cap_s=30.0)
RETRYABLE = SendFailure(True, "timeout")
PERMANENT = SendFailure(False, "550")


def test_backoff_doubles_with_jitter_keeping_at_least_half() -> None:
    assert next_delay(RETRYABLE, 1, POLICY, rand=0.0) == 0.5
    assert next_delay(RETRYABLE, 1, POLICY, rand=0.999) < 1.0
    assert next_delay(RETRYABLE, 2, POLICY, rand=0.0) == 1.0


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(attempts=20, base_s=1.0, cap_s=4.0)
    assert next_delay(RETRYABLE, 10, policy, rand=0.999) < 4.0


def test_permanent_failure_is_never_retried() -> None:
    assert next_delay(PERMANENT, 1, POLICY, rand=0.5) is None


def test_retrying_stops_after_the_last_attempt() -> None:
    assert next_delay(RETRYABLE, 3, POLICY, rand=0.5) is None


def test_connection_refused_timeouts_and_4xx_are_retryable() -> None:
    assert classify_failure(aiosmtplib.SMTPConnectError("refused")).retryable
    assert classify_failure(aiosmtplib.SMTPReadTimeoutError("slow")).retryable
    assert classify_failure(aiosmtplib.SMTPServerDisconnected("gone")).retryable
    assert classify_failure(ConnectionRefusedError()).retryable
    assert classify_failure(aiosmtplib.SMTPDataError(451, "try later")).retryable
    greylisted = aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(450, "greylisted", "a@b")])
    assert classify_failure(greylisted).retryable


def test_5xx_bad_recipients_and_auth_failures_are_permanent() -> None:
    assert not classify_failure(aiosmtplib.SMTPDataError(554, "rejected")).retryable
    assert not classify_failure(aiosmtplib.SMTPAuthenticationError(535, "bad credentials")).retryable
    refused = aiosmtplib.SMTPRecipientsRefused(
        [
            aiosmtplib.SMTPRecipientRefused(550, "no such user", "a@b"),
            aiosmtplib.SMTPRecipientRefused(450, "later", "c@d"),
        ]
    )
    failure = classify_failure(refused)
    assert not failure.retryable and "a@b: 550 no such user" in failure.reason
    assert not classify_failure(aiosmtplib.SMTPNotSupported("STARTTLS")).retryable


class _Script:
    def __init__(self, *results: BaseException | str) -> None:
        self.results = list(results)
        self.calls = 0
        self.slept: list[float] = []

    async def send(self) -> str:
        self.calls += 1
        result = self.results.pop(0)
        if isinstance(result, BaseException):
            raise result
        return result

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


async def _allow(attempt: int, failure: SendFailure) -> bool:
    return True


def test_retryable_failures_are_retried_until_sent() -> None:
    script = _Script(aiosmtplib.SMTPConnectError("refused"), aiosmtplib.SMTPConnectError("refused"), "")
    outcome = asyncio.run(send_with_retry(script.send, POLICY, _allow, script.sleep, rand=lambda: 0.0))
    assert (outcome.status, outcome.attempts) == ("sent", 3)
    assert script.slept == [0.5, 1.0]


def test_permanent_failure_fails_after_one_attempt() -> None:
    script = _Script(aiosmtplib.SMTPDataError(550, "no"))
    outcome = asyncio.run(send_with_retry(script.send, POLICY, _allow, script.sleep))
    assert (outcome.status, outcome.attempts, script.slept) == ("failed", 1, [])
    assert "550" in outcome.error


def test_retryable_failure_on_every_attempt_fails_after_the_configured_attempts() -> None:
    script = _Script(*[aiosmtplib.SMTPConnectError("refused")] * 3)
    outcome = asyncio.run(send_with_retry(script.send, POLICY, _allow, script.sleep, rand=lambda: 0.0))
    assert (outcome.status, outcome.attempts, script.calls) == ("failed", 3, 3)


def test_retry_vetoed_by_the_caller_abandons_without_sending_again() -> None:
    script = _Script(aiosmtplib.SMTPConnectError("refused"), "")

    async def lost_lease(attempt: int, failure: SendFailure) -> bool:
        return False

    outcome = asyncio.run(send_with_retry(script.send, POLICY, lost_lease, script.sleep))
    assert (outcome.status, script.calls) == ("abandoned", 1)


def test_missing_smtp_ca_file_fails_at_start_with_the_variable_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from failstream.alerting.exceptions import AlertingConfigError
    from failstream.alerting.smtp import EmailNotifier
    from failstream.settings import Settings

    with pytest.raises(AlertingConfigError, match="SMTP_CA_FILE"):
        EmailNotifier(Settings(smtp_tls="starttls", smtp_ca_file=str(tmp_path / "missing.pem")))


def _relay_wait(still_ours: bool = True) -> RelayWait:
    return RelayWait(Dependency("smtp-test"), Backoff(0.5, 5.0, rand=lambda: 1.0), lambda: still_ours)


def test_unreachable_relay_is_waited_for_without_counting_attempts_and_said_once() -> None:
    script = _Script(*[aiosmtplib.SMTPConnectError("refused")] * 5, "")
    told: list[int] = []

    async def note(attempt: int, failure: SendFailure) -> bool:
        told.append(attempt)
        return True

    wait = _relay_wait()
    outcome = asyncio.run(send_with_retry(script.send, POLICY, note, script.sleep, wait=wait))
    assert (outcome.status, outcome.attempts, script.calls) == ("sent", 1, 6)
    assert told == [0]  # one RETRYING for the whole wait, not one per probe
    assert script.slept == [0.5, 1.0, 2.0, 4.0, 5.0]  # capped: back within one cap of the return
    assert wait.relay.up


def test_waiting_for_the_relay_stops_once_the_alerts_are_taken_over() -> None:
    script = _Script(*[aiosmtplib.SMTPConnectError("refused")] * 3, "")
    outcome = asyncio.run(send_with_retry(script.send, POLICY, _allow, script.sleep, wait=_relay_wait(False)))
    assert (outcome.status, script.calls) == ("abandoned", 1)


def test_connect_failures_are_outages_and_replies_are_attempts() -> None:
    assert classify_failure(aiosmtplib.SMTPConnectError("refused")).unreachable
    assert classify_failure(aiosmtplib.SMTPConnectTimeoutError("no answer")).unreachable
    assert classify_failure(ConnectionRefusedError()).unreachable
    assert not classify_failure(aiosmtplib.SMTPConnectResponseError(421, "busy")).unreachable
    assert not classify_failure(aiosmtplib.SMTPReadTimeoutError("slow")).unreachable
    assert not classify_failure(aiosmtplib.SMTPServerDisconnected("gone mid-DATA")).unreachable
