"""Send one report for one period, at most once across processes and restarts.

The period key (``<schedule>:<period start ms>``) is claimed in ``reports``
with the very fence alerts use (unique ``_id``, owner, lease, take-over of a
dead owner's claim), then the figures are read, the email rendered, logged
in ``emails`` with kind ``report``, sent with the alert retry policy, and the
claim finished as ``sent`` or ``failed``, with the claim's token. As with
alerts, MongoDB outages are waited out (also between sending and recording),
an unreachable relay is waited for, the lease is renewed during the send,
and a re-send after a take-over reuses the period's Message-ID; the window
left is in docs/alert-delivery.md.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from failstream.alerting.clock import Clock, Sleep
from failstream.alerting.dependencies import Held, smtp, smtp_backoff
from failstream.alerting.email_events import EmailEventPublisher
from failstream.alerting.email_log import EmailLog
from failstream.alerting.fence import AlertFence, AlreadyHandled, Claimed, HeldElsewhere
from failstream.alerting.lease import LeaseKeeper, plan_for
from failstream.alerting.render import alert_message_id
from failstream.alerting.reports.figures import read_figures
from failstream.alerting.reports.render import KIND, ReportContext, render_report
from failstream.alerting.reports.schedule import ReportPeriod, describe, previous_period, zone_of
from failstream.alerting.retry import RelayWait, RetryPolicy, send_with_retry
from failstream.alerting.smtp import EmailNotifier, SendFailure
from failstream.alerting.store import Database
from failstream.mongo_outage import is_mongo_outage
from failstream.settings import AlertingSettings, ReportSchedule

log = logging.getLogger("failstream.alerting.reports")


@dataclass(frozen=True)
class ReportOutcome:
    """What became of one period: ``held`` means another live process is sending it now."""

    key: str
    status: Literal["sent", "failed", "abandoned", "already", "held"]
    email_id: str = ""
    error: str = ""


class ReportSender:
    def __init__(
        self,
        settings: AlertingSettings,
        db: Database,
        fence: AlertFence,
        email_log: EmailLog,
        notifier: EmailNotifier,
        clock: Clock,
        sleep: Sleep,
        rand: Callable[[], float] = random.random,
        held: Held | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._fence = fence
        self._email_log = email_log
        self._notifier = notifier
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._held = held or Held()

    async def send(
        self, schedule: ReportSchedule, period: ReportPeriod, *, manual: bool = False
    ) -> ReportOutcome:
        """Claim the period, then render, send and record its report; skip it if already handled."""
        s = self._settings
        # a manual send is an extra report on purpose: its own key, never fenced against the schedule
        key = f"{period.key}:manual:{uuid.uuid4().hex[:8]}" if manual else period.key
        decision = await self._fence.claim_key(
            key,
            {
                "schedule": schedule.name,
                "period": schedule.period,
                "start": period.start,
                "end": period.end,
                "manual": manual,
            },
        )
        if isinstance(decision, AlreadyHandled):
            return ReportOutcome(key, "already")
        if isinstance(decision, HeldElsewhere):
            return ReportOutcome(key, "held")
        assert isinstance(decision, Claimed)
        if decision.taken_over:
            log.warning("report %s taken over from an owner whose lease ran out", key)
        claimed_at = self._clock()
        figures = await read_figures(self._db, period, s.report_top_n)
        previous = await read_figures(
            self._db, previous_period(schedule, period, s.report_timezone), s.report_top_n
        )
        claim = decision
        if not self._fence.still_fresh(claimed_at) and not await self._fence.renew_claims([claim]):
            return ReportOutcome(key, "abandoned", error="lease lost while reading the figures")

        late_ms = self._clock() - period.end - int(s.report_settle_s * 1000)  # the wait is on time
        late_by_s = late_ms // 1000 if not manual and late_ms > s.report_late_after_s * 1000 else 0
        tz = zone_of(schedule, s.report_timezone)
        ctx = ReportContext(schedule.name, describe(period, tz), s.dashboard_url, late_by_s, manual)
        recipients = list(schedule.recipients or s.oncall_recipients)
        rendered = render_report(ctx, figures, previous, recipients, s.smtp_from, alert_message_id([key]))
        email_id = rendered.message_id
        await self._email_log.pending(
            email_id,
            kind=KIND,
            subject=str(rendered.message["Subject"]),
            recipients=recipients,
            alert_keys=[],
            report_key=key,
        )

        keeper = LeaseKeeper(self._fence.renew_claims, [claim], plan_for(s).renew_every_s, is_mongo_outage)

        async def before_retry(attempt: int, failure: SendFailure) -> bool:
            if keeper.lost or not await self._held(lambda: self._fence.renew_claims([claim])):
                return False
            log.warning("report email %s attempt %d failed, retrying: %s", email_id, attempt, failure.reason)
            await self._email_log.retrying(email_id, attempt, failure.reason)
            return True

        async with keeper:
            outcome = await send_with_retry(
                lambda: self._notifier.send(rendered.message, recipients),
                RetryPolicy.from_settings(s),
                before_retry,
                self._sleep,
                self._rand,
                RelayWait(smtp(), smtp_backoff(), lambda: not keeper.lost),
            )
        record = {"email_id": email_id, "figures": figures.document(), "late_by_s": late_by_s}
        if outcome.status == "sent":
            await self._record_sent(claim, email_id, outcome.attempts, outcome.note, record)
            log.info("report %s sent as %s%s", key, email_id, f" ({late_by_s}s late)" if late_by_s else "")
            return ReportOutcome(key, "sent", email_id)
        if outcome.status == "failed":
            await self._email_log.failed(email_id, outcome.attempts, outcome.error)
            await self._held(
                lambda: self._fence.finish([claim], "failed", last_error=outcome.error, **record)
            )
            log.error("report %s failed after %d attempt(s): %s", key, outcome.attempts, outcome.error)
            return ReportOutcome(key, "failed", email_id, outcome.error)
        error = f"abandoned: another process took the report over ({outcome.error})"
        await self._email_log.failed(email_id, outcome.attempts, error)
        log.warning("report email %s %s", email_id, error)
        return ReportOutcome(key, "abandoned", email_id, error)

    async def _record_sent(
        self, claim: Claimed, email_id: str, attempts: int, note: str, record: dict[str, object]
    ) -> None:
        """Finish the claim; never raise once the relay has the email, or the period is sent again.

        A MongoDB outage is waited out (``Held``); only a bug falls back to a smaller record.
        """
        key, fence = claim.key, self._fence
        try:
            await self._held(lambda: fence.finish([claim], "sent", sent_at=self._clock(), **record))
        except Exception:
            log.exception("report %s: recording the figures failed; marking it sent without them", key)
            try:
                await self._held(
                    lambda: fence.finish([claim], "sent", sent_at=self._clock(), email_id=email_id)
                )
            except Exception:
                log.exception("report %s sent as %s but not recorded", key, email_id)
        try:
            await self._held(lambda: self._email_log.sent(email_id, attempts, note))
        except Exception:
            log.exception("report email %s sent but its log record not updated", email_id)


def build_report_sender(
    settings: AlertingSettings,
    db: Database,
    events: EmailEventPublisher,
    owner: str,
    clock: Clock,
    sleep: Sleep,
) -> ReportSender:
    """The report stages: the alert fence on ``reports``, the email log, the SMTP notifier."""
    fence = AlertFence(db.reports, owner, plan_for(settings).lease_ms, clock)
    email_log = EmailLog(db.emails, events, clock)
    return ReportSender(settings, db, fence, email_log, EmailNotifier(settings), clock, sleep)
