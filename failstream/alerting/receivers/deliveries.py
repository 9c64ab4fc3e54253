"""The pipeline stage that sends an alert to its receivers besides email, each exactly like the email.

Every (alert, receiver) pair is its own send-once unit: claimed under
``<alert key>|<receiver>`` with ``AlertFence`` (claim, lease, take-over,
token, finish: docs/alert-delivery.md) before anything is sent, renewed by a
``LeaseKeeper`` while it is sent, retried with the email's backoff, finished
``sent`` or ``failed``, and dead-lettered when it failed for good. The claims
live in ``receiver_deliveries``, not ``alerts``: the API, the reports and
the rate-limit backlog read ``alerts`` as one document per alert.

The pipeline runs this stage after the alert's own claim, silence and rate
limit, and before the alert's email is finished, so an alert is never
marked handled (its offset committed) while a receiver still waits. The
receivers of one alert are sent to at once; one that is down delays that
alert's email by at most its retries (attempts, backoff), never for good.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from pymongo.asynchronous.collection import AsyncCollection

from failstream.alerting import metrics
from failstream.alerting.clock import Clock, Sleep, system_sleep
from failstream.alerting.dead_letters import FailedSendLetters
from failstream.alerting.delivery import AlertDelivery
from failstream.alerting.dependencies import Held
from failstream.alerting.fence import AlertFence, AlreadyHandled, Claimed, HeldElsewhere
from failstream.alerting.lease import LeaseKeeper, LeasePlan, plan_lease
from failstream.alerting.receivers.http import classify_http_failure, new_client
from failstream.alerting.receivers.notice import Notice, Receiver, delivery_key
from failstream.alerting.receivers.routing import build_receiver, routed
from failstream.alerting.render import dashboard_link
from failstream.alerting.retry import RetryPolicy, SendOutcome, send_with_retry
from failstream.alerting.smtp import SendFailure
from failstream.events import Alert
from failstream.mongo_outage import is_mongo_outage
from failstream.settings import AlertingSettings

log = logging.getLogger("failstream.alerting")

#: How often a delivery held by another live process is looked at again.
HELD_RECHECK_S = 1.0


def receivers_lease(settings: AlertingSettings) -> LeasePlan:
    """Outlasts the longest delivery: every attempt at its deadline plus the backoff between them."""
    return plan_lease(
        settings.fence_lease_s,
        settings.send_attempts,
        settings.receiver_timeout_s,
        settings.smtp_retry_base_s,
        settings.smtp_retry_max_s,
    )


class ReceiverDeliveries:
    def __init__(
        self,
        settings: AlertingSettings,
        receivers: Sequence[Receiver],
        fence: AlertFence,
        deliveries: AsyncCollection[dict[str, Any]],
        letters: FailedSendLetters,
        lease: LeasePlan,
        mongo: Held,
        clock: Clock,
        sleep: Sleep = system_sleep,
        rand: Callable[[], float] = random.random,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._settings = settings
        self.receivers = list(receivers)
        self._fence = fence
        self._deliveries = deliveries
        self._letters = letters
        self._lease = lease
        self._mongo = mongo
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._client = client
        self._policy = RetryPolicy.from_settings(settings)

    @classmethod
    def build(
        cls,
        settings: AlertingSettings,
        db: Any,
        letters: FailedSendLetters,
        mongo: Held,
        owner: str,
        clock: Clock,
    ) -> ReceiverDeliveries | None:
        """The stage for ``settings.receivers``, or None when there are none (email only, as before)."""
        if not settings.receivers:
            return None
        client = new_client(settings)
        lease = receivers_lease(settings)
        metrics.declare_receivers(settings)
        return cls(
            settings,
            [build_receiver(c, client, settings) for c in settings.receivers],
            AlertFence(db.receiver_deliveries, owner, lease.lease_ms, clock),
            db.receiver_deliveries,
            letters,
            lease,
            mongo,
            clock,
            client=client,
        )

    def routed(self, alert: Alert) -> list[Receiver]:
        return routed(self.receivers, alert)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def deliver(self, delivery: AlertDelivery, receivers: Sequence[Receiver]) -> None:
        """Send ``delivery`` to each receiver at once; returns when each is sent, failed or handled."""
        await asyncio.gather(*(self._deliver_one(delivery, r) for r in receivers))

    async def _episode_severity(self, alert: Alert, receiver: str) -> str | None:
        """The severity this receiver was sent for the episode a resolved notice ends; None if none was."""
        fired = await self._mongo(
            lambda: self._deliveries.find_one(
                {
                    "receiver": receiver,
                    "rule": alert.rule,
                    "subject": alert.subject,
                    "episode_start": alert.episode_start,
                    "state": {"$in": ["firing", "renotify"]},
                    "status": "sent",
                }
            )
        )
        return None if fired is None else str(fired.get("severity") or alert.severity)

    async def _claim(self, key: str, document: dict[str, Any]) -> Claimed | AlreadyHandled:
        while True:
            decision = await self._mongo(lambda: self._fence.claim_key(key, document))
            if not isinstance(decision, HeldElsewhere):
                assert isinstance(decision, Claimed | AlreadyHandled)
                return decision
            # another live process sends it; if it dies, its lease runs out and we take over
            wait_s = min(max(decision.lease_until - self._clock(), 0) / 1000, HELD_RECHECK_S)
            await self._sleep(wait_s + 0.05)

    async def _deliver_one(self, delivery: AlertDelivery, receiver: Receiver) -> None:
        alert, config = delivery.alert, receiver.config
        severity: str = alert.severity
        if alert.state == "resolved":
            fired = await self._episode_severity(alert, config.name)
            if fired is None:
                return  # it never had this episode's firing: nothing to resolve there
            severity = fired
        key = delivery_key(alert.alert_key, config.name)
        document = {
            "receiver": config.name,
            "kind": config.kind,
            "alert_key": alert.alert_key,
            "rule": alert.rule,
            "subject": alert.subject,
            "state": alert.state,
            "severity": severity,
            "episode_start": alert.episode_start,
            "ts": alert.ts,
            "attempts": 0,
        }
        decision = await self._claim(key, document)
        if isinstance(decision, AlreadyHandled):
            log.info("receiver %s: alert %s already %s", config.name, alert.alert_key, decision.status)
            metrics.RECEIVER_DELIVERIES.labels(config.name, config.kind, "duplicate").inc()
            return
        claim = decision
        link = dashboard_link(self._settings.dashboard_url, alert.subject, alert.rule)
        notice = Notice(alert, key, severity, link)
        outcome = await self._send(receiver, notice, claim)
        await self._record(delivery, receiver, claim, outcome)

    async def _send(self, receiver: Receiver, notice: Notice, claim: Claimed) -> SendOutcome:
        fence, name = self._fence, receiver.config.name
        keeper = LeaseKeeper(fence.renew_claims, [claim], self._lease.renew_every_s, is_mongo_outage)

        async def before_retry(attempt: int, failure: SendFailure) -> bool:
            if keeper.lost or await self._mongo(lambda: fence.renew_claims([claim])) != {claim.key}:
                return False
            log.warning(
                "receiver %s: %s attempt %d failed, retrying: %s", name, claim.key, attempt, failure.reason
            )
            await self._mongo(
                lambda: fence.mark_claims([claim], "claimed", attempts=attempt, last_error=failure.reason)
            )
            return True

        url = receiver.config.url.get_secret_value()
        async with keeper:
            return await send_with_retry(
                lambda: receiver.send(notice),
                self._policy,
                before_retry,
                self._sleep,
                self._rand,
                classify=lambda exc: classify_http_failure(exc, url),
            )

    async def _record(
        self, delivery: AlertDelivery, receiver: Receiver, claim: Claimed, outcome: SendOutcome
    ) -> None:
        name, kind = receiver.config.name, receiver.config.kind
        fence = self._fence
        if outcome.status == "sent":
            lost = await self._mongo(
                lambda: fence.finish([claim], "sent", attempts=outcome.attempts, sent_at=self._clock())
            )
            if lost:
                log.warning(
                    "receiver %s: %s sent, but taken over first; it may be sent again", name, claim.key
                )
            metrics.RECEIVER_DELIVERIES.labels(name, kind, "sent").inc()
            log.info("receiver %s: %s sent after %d attempt(s)", name, claim.key, outcome.attempts)
        elif outcome.status == "failed":
            error = outcome.error
            await self._mongo(
                lambda: fence.finish([claim], "failed", attempts=outcome.attempts, last_error=error)
            )
            await self._mongo(lambda: self._letters.record_failed_delivery(delivery, name, claim.key, error))
            metrics.RECEIVER_DELIVERIES.labels(name, kind, "failed").inc()
            log.error(
                "receiver %s: %s failed after %d attempt(s): %s", name, claim.key, outcome.attempts, error
            )
        else:
            log.warning("receiver %s: %s abandoned, another process took it over", name, claim.key)
