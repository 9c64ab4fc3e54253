"""How long a claim's lease must be, and renewing it while a send is under way.

A lease that runs out mid-send lets another process take the alert over and
email it again, so the lease must outlast the longest send this process can
make on its own (every attempt running to its deadline, plus the backoff
between them), and it is renewed while the send goes on. Pure arithmetic
here, so the rule is tested without a clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from failstream.alerting.fence import Claimed
from failstream.settings import AlertingSettings

log = logging.getLogger("failstream.alerting")

#: aiosmtplib's timeout bounds each step (connect, each command); the whole
#: attempt gets half as long again, so a hung connect is still reported as a
#: connect timeout, while a relay trickling replies cannot stretch one attempt.
ATTEMPT_DEADLINE_FACTOR = 1.5
#: Slack for the MongoDB round trips around a send and clock skew between hosts.
LEASE_MARGIN_S = 5.0
#: Renewals per lease: two may fail (MongoDB blips) before the lease runs out.
RENEWALS_PER_LEASE = 3


def attempt_deadline_s(smtp_timeout_s: float) -> float:
    return smtp_timeout_s * ATTEMPT_DEADLINE_FACTOR


def worst_send_s(attempts: int, smtp_timeout_s: float, retry_base_s: float, retry_max_s: float) -> float:
    """Every attempt at its deadline, and the longest backoff before each retry (no jitter is longer)."""
    backoff = sum(min(retry_max_s, retry_base_s * 2 ** (n - 1)) for n in range(1, attempts))
    return attempts * attempt_deadline_s(smtp_timeout_s) + backoff


@dataclass(frozen=True)
class LeasePlan:
    lease_s: float
    renew_every_s: float
    #: the configured lease when it was too short and raised to ``lease_s``
    raised_from: float | None = None

    @property
    def lease_ms(self) -> int:
        return int(self.lease_s * 1000)


def plan_lease(
    fence_lease_s: float, attempts: int, smtp_timeout_s: float, retry_base_s: float, retry_max_s: float
) -> LeasePlan:
    """The configured lease, raised to the worst send plus a margin if it is shorter."""
    need = worst_send_s(attempts, smtp_timeout_s, retry_base_s, retry_max_s) + LEASE_MARGIN_S
    lease = max(fence_lease_s, need)
    raised = fence_lease_s if lease > fence_lease_s else None
    return LeasePlan(lease, lease / RENEWALS_PER_LEASE, raised)


def plan_for(settings: AlertingSettings) -> LeasePlan:
    return plan_lease(
        settings.fence_lease_s,
        settings.send_attempts,
        settings.smtp_timeout_s,
        settings.smtp_retry_base_s,
        settings.smtp_retry_max_s,
    )


def lease_plan(settings: AlertingSettings) -> LeasePlan:
    """``plan_for``, saying once at start-up when the configured lease had to be raised."""
    plan = plan_for(settings)
    if plan.raised_from is not None:
        log.warning(
            "FAILSTREAM_FENCE_LEASE_S=%g is shorter than the longest send (%d attempts of up to %g s "
            "plus backoff); using a %.1f s lease so a slow relay never lets a second process send",
            plan.raised_from,
            settings.send_attempts,
            attempt_deadline_s(settings.smtp_timeout_s),
            plan.lease_s,
        )
    return plan


class LeaseKeeper:
    """Renews a send's claims every ``every_s`` until the send ends; notes claims found taken over.

    Renewal is best effort: an error ``tolerate`` accepts (MongoDB away) skips one
    round, and the lease was sized to outlast the send without any renewal.
    Leaving waits for a renewal under way instead of cancelling it: FerretDB
    writes a whole document per update, so a renewal still running on the
    server could write back the claim as it was, over the ``sent`` that
    follows.
    """

    def __init__(
        self,
        renew: Callable[[list[Claimed]], Awaitable[set[str]]],
        claims: Iterable[Claimed],
        every_s: float,
        tolerate: Callable[[BaseException], bool],
    ) -> None:
        self._renew = renew
        self._claims = list(claims)
        self._every_s = every_s
        self._tolerate = tolerate
        self.lost: set[str] = set()
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._done.wait(), self._every_s)
                return  # the send is over: no renewal may start now
            except TimeoutError:
                pass
            try:
                held = await self._renew(self._claims)
            except Exception as exc:
                if not self._tolerate(exc):
                    raise
                continue
            self.lost |= {c.key for c in self._claims} - held

    async def __aenter__(self) -> LeaseKeeper:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._done.set()
        if self._task is not None:
            await self._task
