"""The alerting pipeline in one place: fence, silence, rate limit, group, render, send, record.

Each stage lives in its own module; this one only wires them. ``handle``
takes one alert off Kafka through the stages up to its digest group;
``flush_due`` sends the groups whose ``group_wait`` is over. When an alert is
finished (sent, suppressed, failed, or found already handled) ``on_handled``
is told, so the service commits its Kafka offset only then.

Every MongoDB call goes through ``Held``: while MongoDB is away the alert
waits at the stage it reached (its claim, its record of a sent email) and
goes on when MongoDB is back, so an outage neither ends the process nor
sends an email twice. An unreachable relay is waited out the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from failstream.alerting import metrics
from failstream.alerting.clock import Clock, Sleep, system_clock, system_sleep
from failstream.alerting.dead_letters import FailedSendLetters
from failstream.alerting.decide import DecisionStage
from failstream.alerting.decision_relay import DecisionRelay
from failstream.alerting.delivery import AlertDelivery
from failstream.alerting.dependencies import Held, kafka, smtp, smtp_backoff
from failstream.alerting.details import AlertDetails
from failstream.alerting.email_event_relay import EmailEventRelay
from failstream.alerting.email_log import EmailLog
from failstream.alerting.fence import AlertFence, AlreadyHandled, Claimed, HeldElsewhere
from failstream.alerting.folding import MAX_FOLDED, RateLimitedBacklog
from failstream.alerting.grouping import DigestGroups, PendingGroup
from failstream.alerting.inhibition import (
    INHIBITED,
    AlsoNote,
    InhibitedBacklog,
    Inhibition,
    fold_in_group,
    note_of,
)
from failstream.alerting.lease import LeaseKeeper, LeasePlan, lease_plan
from failstream.alerting.ratelimit import AlertRateLimiter
from failstream.alerting.receivers.deliveries import ReceiverDeliveries
from failstream.alerting.receivers.notice import Receiver
from failstream.alerting.recipients import recipients_for, wants_resolved
from failstream.alerting.render import FoldedAlert, alert_message_id, render_email
from failstream.alerting.retry import RelayWait, RetryPolicy, SendOutcome, send_with_retry
from failstream.alerting.rule_names import IP_RULE
from failstream.alerting.silence import SilenceStage
from failstream.alerting.smtp import EmailNotifier, SendFailure
from failstream.alerting.store import Database
from failstream.decisions.store import DecisionStore
from failstream.events import Alert
from failstream.mongo_outage import is_mongo_outage
from failstream.settings import AlertingSettings

log = logging.getLogger("failstream.alerting")

T = TypeVar("T")

#: How often a process waiting on another owner's live claim looks again.
HELD_RECHECK_MS = 1000


@dataclass
class Waiting:
    """An alert claimed by this process and waiting in a digest group, with every Kafka record of it."""

    delivery: AlertDelivery
    claimed_at: int
    claim: Claimed
    extra: list[AlertDelivery] = field(default_factory=list)
    #: the alert's decision being written: awaited before the alert is finished
    decided: asyncio.Task[object] | None = None

    @property
    def key(self) -> str:
        return self.delivery.alert.alert_key

    def deliveries(self) -> list[AlertDelivery]:
        return [self.delivery, *self.extra]


@dataclass
class Stages:
    fence: AlertFence
    silences: SilenceStage
    limiter: AlertRateLimiter
    notifier: EmailNotifier
    email_log: EmailLog
    letters: FailedSendLetters
    backlog: RateLimitedBacklog
    lease: LeasePlan = field(default_factory=lambda: LeasePlan(60.0, 20.0))
    mongo: Held = field(default_factory=Held)
    #: webhook, Slack, Alertmanager (``FAILSTREAM_RECEIVERS``); None: email only
    receivers: ReceiverDeliveries | None = None
    #: route alerts folded into their IP's firing alert; None: every alert on its own
    inhibition: Inhibition | None = None
    inhibited: InhibitedBacklog | None = None
    #: reasons and routes of the rules whose alerts come without them; None: as they come
    details: AlertDetails | None = None
    #: firing alerts become decisions, published by the relay; None: no decisions
    decisions: DecisionStage | None = None
    relay: DecisionRelay | None = None
    #: publishes the email log's events from the outbox onto ``email-events``; None: not built here
    email_events: EmailEventRelay | None = None


class AlertPipeline:
    def __init__(
        self,
        settings: AlertingSettings,
        stages: Stages,
        on_handled: Callable[[AlertDelivery], None],
        clock: Clock = system_clock,
        sleep: Sleep = system_sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._settings = settings
        self._s = stages
        self._on_handled = on_handled
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._policy = RetryPolicy.from_settings(settings)
        self._groups: DigestGroups[Waiting] = DigestGroups(int(settings.group_wait_s * 1000))
        self._waiting: dict[str, Waiting] = {}
        # another process may have left rate-limited alerts: look once, then after our own
        self._backlog_maybe = True
        self._relay = smtp()

    async def _db(self, operation: Callable[[], Awaitable[T]]) -> T:
        """A MongoDB step, waited for across an outage (each stage call is safe to repeat)."""
        return await self._s.mongo(operation)

    # --- fence, silence, rate limit, group ----------------------------------

    async def handle(self, delivery: AlertDelivery) -> None:
        alert = delivery.alert
        metrics.RECEIVED.labels(alert.rule, alert.state).inc()
        waiting = self._waiting.get(alert.alert_key)
        if waiting is not None:  # re-delivered while still waiting here
            waiting.extra.append(delivery)
            return
        fence = self._s.fence
        claimed_at = self._clock()
        decision = await self._db(lambda: fence.claim(alert))
        while isinstance(decision, HeldElsewhere):
            # a live process owns it; if it dies, its lease runs out and we take over
            await self._sleep(
                min(max(decision.lease_until - self._clock(), 0), HELD_RECHECK_MS) / 1000 + 0.05
            )
            await self.flush_due()
            claimed_at = self._clock()
            decision = await self._db(lambda: fence.claim(alert))
        if isinstance(decision, AlreadyHandled):
            log.info(
                "alert %s already %s: not sent again",
                alert.alert_key,
                decision.status,
                extra={"alert_key": alert.alert_key},
            )
            metrics.ALERTS.labels("duplicate").inc()
            self._on_handled(delivery)
            return
        assert isinstance(decision, Claimed)
        claim = decision
        if decision.taken_over:
            log.warning(
                "alert %s taken over from an owner whose lease ran out",
                alert.alert_key,
                extra={"alert_key": alert.alert_key},
            )
        if self._settings.alerting_test_pause_after_claim_s:
            await self._sleep(self._settings.alerting_test_pause_after_claim_s)

        if self._s.details is not None:
            details = self._s.details
            alert = await self._db(lambda: details.complete(alert))
            delivery = dataclasses.replace(delivery, alert=alert)
        routed = self._routed(alert)
        resolved_off = alert.state == "resolved" and not wants_resolved(alert.rule, self._settings)
        if resolved_off and not routed:
            await self._suppress(delivery, claim, "resolved_off")
            return
        silence = await self._db(lambda: self._s.silences.silenced_by(alert))
        if silence is not None:
            await self._suppress(delivery, claim, "silence", silence_id=str(silence.get("_id", "")))
            return
        # the decision is written beside the rest (neither the receivers nor the digest wait for
        # it), and recorded before the alert is finished: a crash before then re-delivers both
        decided = self._decide(alert)
        try:
            await self._after_silence(delivery, claim, claimed_at, routed, resolved_off, decided)
        except BaseException:
            if decided is not None:
                decided.cancel()
            raise

    def _decide(self, alert: Alert) -> asyncio.Task[object] | None:
        if self._s.decisions is None:
            return None
        decisions = self._s.decisions
        return asyncio.create_task(self._db(lambda: decisions.decide(alert)))

    async def _after_silence(
        self,
        delivery: AlertDelivery,
        claim: Claimed,
        claimed_at: int,
        routed: list[Receiver],
        resolved_off: bool,
        decided: asyncio.Task[object] | None,
    ) -> None:
        async def settled() -> None:
            if decided is not None:
                await decided

        alert, fence = delivery.alert, self._s.fence
        if self._s.inhibition is not None:
            inhibition = self._s.inhibition
            inhibitor = await self._db(lambda: inhibition.inhibited_by(alert))
            if inhibitor is not None:
                by_key, ip = inhibitor
                folded = {"folded_into": None} if alert.state != "resolved" else {}
                await settled()
                await self._suppress(
                    delivery, claim, INHIBITED, inhibited_by=by_key, inhibited_subject=ip, **folded
                )
                return
        if resolved_off:  # not emailed, yet a receiver (an Alertmanager) must hear the episode end
            await asyncio.gather(self._to_receivers(delivery, routed), settled())
            await self._suppress(delivery, claim, "resolved_off")
            return
        if not await self._s.limiter.admit_alert(alert):
            await settled()
            await self._suppress(delivery, claim, "rate_limit", folded_into=None)
            return
        # before the email: the alert is finished (its offset committed) only once receivers are
        await self._to_receivers(delivery, routed)

        recipients = recipients_for(alert.severity, self._settings)
        waiting = Waiting(delivery, claimed_at, claim, decided=decided)
        self._waiting[alert.alert_key] = waiting
        if self._settings.group_wait_s > 0:
            await self._db(lambda: fence.mark_claims([claim], "grouped"))
        self._groups.add(recipients, waiting, self._clock())
        await self.flush_due()

    def _routed(self, alert: Alert) -> list[Receiver]:
        return [] if self._s.receivers is None else self._s.receivers.routed(alert)

    async def _to_receivers(self, delivery: AlertDelivery, routed: list[Receiver]) -> None:
        if routed and self._s.receivers is not None:
            await self._s.receivers.deliver(delivery, routed)

    async def _suppress(self, delivery: AlertDelivery, claim: Claimed, by: str, **fields: Any) -> None:
        self._backlog_maybe |= by == "rate_limit"
        key = delivery.alert.alert_key
        log.info("alert %s suppressed by %s", key, by, extra={"alert_key": key})
        metrics.ALERTS.labels(f"suppressed_{by}").inc()
        await self._db(lambda: self._s.fence.finish([claim], "suppressed", suppressed_by=by, **fields))
        self._on_handled(delivery)

    # --- render, send, record -----------------------------------------------

    def ms_until_due(self) -> int | None:
        due_at = self._groups.next_due_at()
        return None if due_at is None else max(due_at - self._clock(), 0)

    def waiting(self) -> int:
        return len(self._groups)

    async def flush_due(self) -> None:
        for group in self._groups.pop_due(self._clock()):
            await self._send_group(group)

    async def flush_all(self) -> None:
        for group in self._groups.pop_all():
            await self._send_group(group)

    async def _finish(self, waiting: list[Waiting]) -> None:
        # a decision is recorded before its alert's offset may be committed
        await asyncio.gather(*(w.decided for w in waiting if w.decided is not None))
        for w in waiting:
            self._waiting.pop(w.key, None)
            for delivery in w.deliveries():
                self._on_handled(delivery)

    async def _send_group(self, group: PendingGroup[Waiting]) -> None:
        fence = self._s.fence
        stale = [w.claim for w in group.items if not fence.still_fresh(w.claimed_at)]
        renewed = await self._db(lambda: fence.renew_claims(stale)) if stale else set()
        lost = [w for w in group.items if w.claim in stale and w.key not in renewed]
        for w in lost:
            log.warning(
                "alert %s: lease lost while grouped; its new owner sends it",
                w.key,
                extra={"alert_key": w.key},
            )
        await self._finish(lost)
        items = [w for w in group.items if w not in lost]
        if not items:
            return
        keys = [w.key for w in items]
        claims = [w.claim for w in items]
        if not await self._s.limiter.admit_email():
            log.warning("global rate limit reached: %d alert(s) held back for the next email", len(keys))
            await self._db(
                lambda: fence.finish(claims, "suppressed", suppressed_by="rate_limit", folded_into=None)
            )
            metrics.ALERTS.labels("suppressed_rate_limit").inc(len(keys))
            self._backlog_maybe = True
            await self._finish(items)
            return
        folded_keys: list[str] = []
        folded: list[FoldedAlert] = []
        if self._backlog_maybe:
            folded_keys, folded = await self._db(lambda: self._s.backlog.take(exclude=keys))
            self._backlog_maybe = len(folded_keys) >= MAX_FOLDED
        shown, in_group, also = self._fold_inhibited(items)
        also_keys: list[str] = []
        ips = [w.delivery.alert.subject for w in shown if w.delivery.alert.rule == IP_RULE]
        if self._s.inhibited is not None and ips:
            inhibited = self._s.inhibited
            also_keys, pending = await self._db(lambda: inhibited.take(ips, exclude=keys))
            for ip, notes in pending.items():
                also.setdefault(ip, []).extend(notes)
        rendered = render_email(
            [w.delivery.alert for w in shown],
            group.recipients,
            sender=self._settings.smtp_from,
            dashboard_url=self._settings.dashboard_url,
            folded=folded,
            message_id=alert_message_id(keys),
            also=also,
        )
        email_id = rendered.message_id
        recipients = list(group.recipients)
        await self._db(
            lambda: self._s.email_log.pending(
                email_id,
                kind=rendered.kind,
                subject=str(rendered.message["Subject"]),
                recipients=recipients,
                alert_keys=keys,
                folded_keys=folded_keys,
            )
        )
        # real time, not the injected sleep: the keeper runs beside the send, whatever its clock
        keeper = LeaseKeeper(fence.renew_claims, claims, self._s.lease.renew_every_s, is_mongo_outage)

        async def before_retry(attempt: int, failure: SendFailure) -> bool:
            if keeper.lost or await self._db(lambda: fence.renew_claims(claims)) != set(keys):
                return False
            if failure.unreachable:
                log.warning("email %s waits for the SMTP relay: %s", email_id, failure.reason)
            else:
                log.warning("email %s attempt %d failed, retrying: %s", email_id, attempt, failure.reason)
            await self._db(lambda: self._s.email_log.retrying(email_id, attempt, failure.reason))
            return True

        started = time.perf_counter()
        async with keeper:  # renewed all along, also while the relay is away
            outcome = await send_with_retry(
                lambda: self._s.notifier.send(rendered.message, recipients),
                self._policy,
                before_retry,
                self._sleep,
                self._rand,
                RelayWait(self._relay, smtp_backoff(), lambda: not keeper.lost),
            )
        metrics.SEND_SECONDS.observe(time.perf_counter() - started)
        metrics.ALERTS_PER_EMAIL.observe(len(items))
        await self._record(outcome, email_id, items, folded_keys, in_group, also_keys)
        await self._finish(items)

    def _fold_inhibited(
        self, items: list[Waiting]
    ) -> tuple[list[Waiting], dict[str, Waiting], dict[str, list[AlsoNote]]]:
        """Route alerts whose IP's firing alert leaves in the same email fold into its block.

        Returns the items shown as blocks, the folded ones by key with the IP
        alert each folds into, and the notes to show per IP.
        """
        if self._s.inhibition is None:
            return items, {}, {}
        pairs = fold_in_group([w.delivery.alert for w in items])
        also: dict[str, list[AlsoNote]] = {}
        for i, j in pairs.items():
            also.setdefault(items[j].delivery.alert.subject, []).append(
                note_of(items[i].delivery.alert.model_dump())
            )
        shown = [w for i, w in enumerate(items) if i not in pairs]
        return shown, {items[i].key: items[j] for i, j in pairs.items()}, also

    async def _finish_folded(
        self, items: list[Waiting], in_group: dict[str, Waiting], email_id: str
    ) -> list[Claimed]:
        """Route alerts folded into their IP's block: finished suppressed, naming the email."""
        lost: list[Claimed] = []
        for w in items:
            into = in_group.get(w.key)
            if into is None:
                continue
            fields = {
                "suppressed_by": INHIBITED,
                "inhibited_by": into.key,
                "inhibited_subject": into.delivery.alert.subject,
                "folded_into": email_id,
                "email_id": email_id,
            }
            claim, fence = w.claim, self._s.fence
            lost += await self._db(partial(fence.finish, [claim], "suppressed", **fields))
        return lost

    async def _record(
        self,
        outcome: SendOutcome,
        email_id: str,
        items: list[Waiting],
        folded_keys: list[str],
        in_group: dict[str, Waiting] | None = None,
        also_keys: Sequence[str] = (),
    ) -> None:
        in_group = in_group or {}
        keys = [w.key for w in items]
        claims = [w.claim for w in items]
        fence, email_log = self._s.fence, self._s.email_log
        if outcome.status == "sent":
            sent_claims = [w.claim for w in items if w.key not in in_group]
            inhibited = self._s.inhibited
            # the relay has the email: each record waits for MongoDB rather than be lost
            _, lost, _, folded_lost, _ = await asyncio.gather(
                self._db(lambda: email_log.sent(email_id, outcome.attempts, outcome.note)),
                self._db(lambda: fence.finish(sent_claims, "sent", email_id=email_id, sent_at=self._clock())),
                self._db(lambda: self._s.backlog.mark_folded(folded_keys, email_id)),
                self._finish_folded(items, in_group, email_id),
                self._db(lambda: inhibited.mark_folded(also_keys, email_id))
                if inhibited is not None
                else asyncio.sleep(0),
            )
            lost = [*lost, *folded_lost]
            for claim in lost:
                log.warning(
                    "alert %s: sent as %s, but its claim was taken over first; the new owner may send it "
                    "again with the same Message-ID",
                    claim.key,
                    email_id,
                    extra={"alert_key": claim.key},
                )
            metrics.ALERTS.labels("sent").inc(len(keys) - len(in_group))
            if in_group:
                metrics.ALERTS.labels(f"suppressed_{INHIBITED}").inc(len(in_group))
            shown = [w.delivery.alert for w in items if w.key not in in_group]
            metrics.observe_sent(shown, outcome.attempts, self._clock())
            log.info(
                "email %s sent for %d alert(s) after %d attempt(s)", email_id, len(keys), outcome.attempts
            )
        elif outcome.status == "failed":
            await self._db(lambda: email_log.failed(email_id, outcome.attempts, outcome.error))
            await self._db(
                lambda: fence.finish(claims, "failed", email_id=email_id, last_error=outcome.error)
            )
            deliveries = [d for w in items for d in w.deliveries()]
            await self._db(lambda: self._s.letters.record_failed_send(deliveries, email_id, outcome.error))
            metrics.ALERTS.labels("failed").inc(len(keys))
            metrics.EMAIL_ATTEMPTS.labels("failed").observe(outcome.attempts)
            log.error("email %s failed after %d attempt(s): %s", email_id, outcome.attempts, outcome.error)
        else:
            error = f"abandoned: another process took the alerts over ({outcome.error})"
            await self._db(lambda: email_log.failed(email_id, outcome.attempts, error))
            log.warning("email %s %s", email_id, error)


def build_stages(settings: AlertingSettings, db: Database, owner: str, clock: Clock) -> Stages:
    lease = lease_plan(settings)
    mongo = Held()
    email_events = EmailEventRelay(settings, db, owner, mongo, kafka(), clock)
    letters = FailedSendLetters(db.dead_letters, clock)
    silences = SilenceStage(db.silences, clock)
    decision_store = DecisionStore(db)
    relay = DecisionRelay(settings, decision_store, mongo, kafka())
    return Stages(
        fence=AlertFence(db.alerts, owner, lease.lease_ms, clock),
        silences=silences,
        limiter=AlertRateLimiter.from_settings(settings),
        notifier=EmailNotifier(settings),
        email_log=EmailLog(db.emails, email_events.publisher, clock),
        letters=letters,
        backlog=RateLimitedBacklog(db.alerts),
        lease=lease,
        mongo=mongo,
        receivers=ReceiverDeliveries.build(settings, db, letters, mongo, owner, clock),
        inhibition=Inhibition(db.alerts),
        inhibited=InhibitedBacklog(db.alerts),
        details=AlertDetails(db.failures),
        decisions=DecisionStage(settings, decision_store, silences, clock, on_change=relay.wake),
        relay=relay,
        email_events=email_events,
    )
