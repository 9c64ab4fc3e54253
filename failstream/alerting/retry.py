"""Retry with exponential backoff and jitter, only for failures that may pass next time.

``next_delay`` is the pure "retry?" decision; ``send_with_retry`` runs the
attempts with an injected sleep and random source, and lets the caller veto
a retry (the pipeline does when it no longer holds the alert's lease).

A relay that cannot be reached at all is an outage, not a failed attempt:
given a ``RelayWait``, the send waits for the relay with capped backoff for
as long as it takes (the relay's ``Dependency`` says so once, in the log,
the gauge and ``/readyz``), and only the relay's answers use up attempts.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from failstream.alerting.clock import Sleep
from failstream.alerting.smtp import SendFailure, classify_failure
from failstream.dependency import Backoff, Dependency
from failstream.settings import AlertingSettings


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    base_s: float
    cap_s: float

    @classmethod
    def from_settings(cls, settings: AlertingSettings) -> RetryPolicy:
        return cls(settings.send_attempts, settings.smtp_retry_base_s, settings.smtp_retry_max_s)


def next_delay(failure: SendFailure, attempt: int, policy: RetryPolicy, rand: float) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None to give up now.

    Backoff doubles from ``base_s`` up to ``cap_s``; "equal jitter" keeps at
    least half of it (``rand`` in [0, 1)), so retries from many senders
    spread out without collapsing to zero.
    """
    if not failure.retryable or attempt >= policy.attempts:
        return None
    ceiling = min(policy.cap_s, policy.base_s * 2 ** (attempt - 1))
    return ceiling * (0.5 + rand / 2)


@dataclass(frozen=True)
class SendOutcome:
    status: Literal["sent", "failed", "abandoned"]
    attempts: int
    error: str = ""
    note: str = ""


#: Called before each retry with (failed attempt number, failure); False vetoes the retry.
BeforeRetry = Callable[[int, SendFailure], Awaitable[bool]]


@dataclass
class RelayWait:
    """How a send waits out an unreachable relay.

    ``still_ours`` is asked before every probe (no I/O: the lease keeper's
    view), so an email whose alerts were taken over stops waiting.
    """

    relay: Dependency
    backoff: Backoff
    still_ours: Callable[[], bool] = lambda: True


async def send_with_retry(
    send: Callable[[], Awaitable[str]],
    policy: RetryPolicy,
    before_retry: BeforeRetry,
    sleep: Sleep,
    rand: Callable[[], float] = random.random,
    wait: RelayWait | None = None,
    classify: Callable[[BaseException], SendFailure] = classify_failure,
) -> SendOutcome:
    """Send until it works, a failure is permanent, attempts run out or ``before_retry`` vetoes.

    ``classify`` tells a retryable failure from a permanent one: SMTP's by
    default; receivers pass the HTTP one.
    """
    attempt = 0
    waiting = False
    while True:
        attempt += 1
        try:
            note = await send()
        except Exception as exc:
            failure = classify(exc)
            if failure.unreachable and wait is not None:
                attempt -= 1  # the relay never answered: this was no attempt at the email
                wait.relay.down(exc)
                if not waiting:  # once per wait: the log and the lease, not every probe
                    waiting = True
                    if not await before_retry(attempt, failure):
                        return SendOutcome("abandoned", attempt, failure.reason)
                if not wait.still_ours():
                    return SendOutcome("abandoned", attempt, failure.reason)
                await sleep(wait.backoff.next())
                continue
            if wait is not None:
                wait.relay.back()  # it answered, if only to refuse
                wait.backoff.reset()
            waiting = False
            delay = next_delay(failure, attempt, policy, rand())
            if delay is None:
                return SendOutcome("failed", attempt, failure.reason)
            if not await before_retry(attempt, failure):
                return SendOutcome("abandoned", attempt, failure.reason)
            await sleep(delay)
        else:
            if wait is not None:
                wait.relay.back()
            return SendOutcome("sent", attempt, note=note)
