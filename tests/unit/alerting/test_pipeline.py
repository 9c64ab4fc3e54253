"""The composed pipeline with in-memory stand-ins for MongoDB and SMTP, and a fake clock."""

from __future__ import annotations

import asyncio
from typing import Any

import aiosmtplib

from failstream.alerting.delivery import AlertDelivery
from failstream.alerting.fence import AlreadyHandled, Claimed, FenceDecision, HeldElsewhere
from failstream.alerting.pipeline import AlertPipeline, Stages
from failstream.alerting.ratelimit import AlertRateLimiter
from failstream.alerting.render import FoldedAlert
from failstream.events import Alert, dumps
from failstream.settings import Settings
from tests.unit.alerting.factories import T0, alert


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


class FakeFence:
    def __init__(self, clock: FakeClock) -> None:
        self.status: dict[str, dict[str, Any]] = {}
        self.scripted: dict[str, list[FenceDecision]] = {}
        self.lost: set[str] = set()
        self.clock = clock

    async def claim(self, a: Alert) -> FenceDecision:
        script = self.scripted.get(a.alert_key)
        if script:
            return script.pop(0)
        if a.alert_key in self.status:
            return AlreadyHandled(self.status[a.alert_key]["status"])
        self.status[a.alert_key] = {"status": "claimed"}
        return Claimed(a.alert_key, "token", 0)

    async def renew_claims(self, claims: Any) -> set[str]:
        return {c.key for c in claims if c.key not in self.lost}

    async def mark_claims(self, claims: Any, status: str, **fields: Any) -> None:
        for claim in claims:
            self.status[claim.key] = {"status": status, **fields}

    async def finish(self, claims: Any, status: str, **fields: Any) -> list[Claimed]:
        await self.mark_claims(claims, status, **fields)
        return []

    def still_fresh(self, claimed_at: int) -> bool:
        return self.clock() - claimed_at < 2_500


class FakeSilences:
    def __init__(self, subjects: set[str]) -> None:
        self.subjects = subjects

    async def silenced_by(self, a: Alert) -> dict[str, Any] | None:
        return {"_id": "s1"} if a.subject in self.subjects else None


class FakeNotifier:
    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.failures: list[BaseException] = []

    async def send(self, message: Any, recipients: list[str]) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return ""


class FakeLog:
    def __init__(self) -> None:
        self.transitions: list[tuple[str, str]] = []

    async def pending(self, message_id: str, **fields: Any) -> None:
        self.transitions.append((message_id, "PENDING"))

    async def retrying(self, message_id: str, attempts: int, error: str) -> None:
        self.transitions.append((message_id, "RETRYING"))

    async def sent(self, message_id: str, attempts: int, note: str = "") -> None:
        self.transitions.append((message_id, "SENT"))

    async def failed(self, message_id: str, attempts: int, error: str) -> None:
        self.transitions.append((message_id, "FAILED"))


class FakeLetters:
    def __init__(self) -> None:
        self.letters: list[str] = []

    async def record_failed_send(self, deliveries: list[AlertDelivery], email_id: str, error: str) -> None:
        self.letters.extend(d.dead_letter_id for d in deliveries)


class FakeBacklog:
    def __init__(self, fence: FakeFence) -> None:
        self.fence = fence
        self.folded: dict[str, str] = {}

    async def take(self, exclude: Any = ()) -> tuple[list[str], list[FoldedAlert]]:
        keys = [
            k
            for k, v in self.fence.status.items()
            if v.get("suppressed_by") == "rate_limit" and k not in self.folded and k not in exclude
        ]
        return keys, [FoldedAlert("ip-failures", k, 1, T0) for k in keys]

    async def mark_folded(self, keys: list[str], email_id: str) -> None:
        self.folded.update(dict.fromkeys(keys, email_id))


class Harness:
    def __init__(
        self,
        silenced: set[str] = frozenset(),  # type: ignore[assignment]
        decisions: Any = None,
        **settings: Any,
    ) -> None:
        self.clock = FakeClock()
        self.fence = FakeFence(self.clock)
        self.notifier = FakeNotifier()
        self.log = FakeLog()
        self.letters = FakeLetters()
        self.backlog = FakeBacklog(self.fence)
        self.settings = Settings(**{"group_wait_s": 0.0, "smtp_retry_base_s": 1.0, **settings})
        stages = Stages(
            fence=self.fence,  # type: ignore[arg-type]
            silences=FakeSilences(set(silenced)),  # type: ignore[arg-type]
            limiter=AlertRateLimiter.from_settings(self.settings),
            notifier=self.notifier,  # type: ignore[arg-type]
            email_log=self.log,  # type: ignore[arg-type]
            letters=self.letters,  # type: ignore[arg-type]
            backlog=self.backlog,  # type: ignore[arg-type]
            decisions=decisions,  # type: ignore[arg-type]
        )
        self.handled: list[int] = []
        self.pipeline = AlertPipeline(
            self.settings,
            stages,
            on_handled=lambda d: self.handled.append(d.offset),
            clock=self.clock,
            sleep=self.clock.sleep,
            rand=lambda: 0.0,
        )
        self.offset = 0

    async def feed(self, a: Alert) -> None:
        self.offset += 1
        await self.pipeline.handle(AlertDelivery(a, "alerts", 0, self.offset, a.subject.encode(), dumps(a)))


async def test_alert_is_sent_once_and_its_offset_released_after_recording() -> None:
    h = Harness()
    await h.feed(alert("10.0.0.1"))
    await h.feed(alert("10.0.0.1"))  # re-delivery of the same alert key
    assert len(h.notifier.sent) == 1
    assert h.fence.status[alert("10.0.0.1").alert_key]["status"] == "sent"
    assert h.handled == [1, 2]
    assert [s for _, s in h.log.transitions] == ["PENDING", "SENT"]


async def test_silenced_alert_is_recorded_suppressed_and_not_sent() -> None:
    h = Harness(silenced={"10.0.0.1"})
    await h.feed(alert("10.0.0.1"))
    assert h.notifier.sent == []
    assert h.fence.status[alert("10.0.0.1").alert_key] == {
        "status": "suppressed",
        "suppressed_by": "silence",
        "silence_id": "s1",
    }
    assert h.handled == [1]


async def test_rate_limited_alert_is_held_back_and_folded_into_the_next_email() -> None:
    h = Harness()
    await h.feed(alert("10.0.0.1"))
    await h.feed(alert("10.0.0.1", alert_key="ip-failures:10.0.0.1:second"))
    assert len(h.notifier.sent) == 1
    assert h.fence.status["ip-failures:10.0.0.1:second"]["suppressed_by"] == "rate_limit"
    await h.feed(alert("10.0.0.2"))
    assert len(h.notifier.sent) == 2
    assert "held back by the rate limit" in h.notifier.sent[1].get_body(("plain",)).get_content()
    assert h.backlog.folded == {"ip-failures:10.0.0.1:second": h.notifier.sent[1]["Message-ID"]}


async def test_global_limit_holds_back_whole_emails() -> None:
    h = Harness(rate_limit_global="1/hour")
    await h.feed(alert("10.0.0.1"))
    await h.feed(alert("10.0.0.2"))
    assert len(h.notifier.sent) == 1
    assert h.fence.status[alert("10.0.0.2").alert_key]["suppressed_by"] == "rate_limit"


async def test_alerts_within_group_wait_leave_together_when_it_is_over() -> None:
    h = Harness(group_wait_s=10.0)
    await h.feed(alert("10.0.0.1"))
    h.clock.now += 4_000
    await h.feed(alert("10.0.0.2"))
    assert h.notifier.sent == [] and h.handled == []
    assert h.pipeline.ms_until_due() == 6_000
    h.clock.now += 6_000
    await h.pipeline.flush_due()
    [digest] = h.notifier.sent
    assert "10.0.0.1" in digest["Subject"] and "10.0.0.2" in digest["Subject"]
    assert h.handled == [1, 2]


async def test_alert_whose_lease_was_lost_while_grouped_is_left_to_its_new_owner() -> None:
    h = Harness(group_wait_s=10.0)
    await h.feed(alert("10.0.0.1"))
    h.fence.lost.add(alert("10.0.0.1").alert_key)
    h.clock.now += 10_000
    await h.pipeline.flush_due()
    assert h.notifier.sent == [] and h.handled == [1]


async def test_retryable_failures_log_retrying_then_sent() -> None:
    h = Harness()
    h.notifier.failures = [aiosmtplib.SMTPReadTimeoutError("slow"), aiosmtplib.SMTPDataError(451, "later")]
    await h.feed(alert("10.0.0.1"))
    assert [s for _, s in h.log.transitions] == ["PENDING", "RETRYING", "RETRYING", "SENT"]
    assert h.clock.now == T0 + 500 + 1000  # equal jitter with rand = 0: half of 1 s, then of 2 s


async def test_unreachable_relay_is_waited_for_without_using_up_attempts() -> None:
    h = Harness(send_attempts=2)
    h.notifier.failures = [aiosmtplib.SMTPConnectError("refused") for _ in range(6)]
    await h.feed(alert("10.0.0.1"))
    assert len(h.notifier.sent) == 1  # six refusals, yet two attempts would have given up
    assert [s for _, s in h.log.transitions] == ["PENDING", "RETRYING", "SENT"]  # one line per wait
    assert h.fence.status[alert("10.0.0.1").alert_key]["status"] == "sent"


async def test_resent_alert_keeps_its_message_id() -> None:
    first, second = Harness(), Harness()
    await first.feed(alert("10.0.0.1"))
    await second.feed(alert("10.0.0.1"))  # another process, after a take-over
    assert first.notifier.sent[0]["Message-ID"] == second.notifier.sent[0]["Message-ID"]


async def test_permanent_failure_is_failed_at_once_with_a_dead_letter() -> None:
    h = Harness()
    h.notifier.failures = [
        aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "no", "x")])
    ]
    await h.feed(alert("10.0.0.1"))
    assert [s for _, s in h.log.transitions] == ["PENDING", "FAILED"]
    assert h.fence.status[alert("10.0.0.1").alert_key]["status"] == "failed"
    assert h.letters.letters == ["alerts:0:1"] and h.handled == [1]


async def test_claim_held_by_a_live_process_is_waited_for_then_taken_over() -> None:
    h = Harness()
    a = alert("10.0.0.1")
    h.fence.scripted[a.alert_key] = [
        HeldElsewhere("other", T0 + 2_500),
        Claimed(a.alert_key, "t", 1, taken_over=True),
    ]
    await h.feed(a)
    assert len(h.notifier.sent) == 1
    assert h.clock.now >= T0 + 1_000  # it waited before looking again


async def test_resolved_notice_is_suppressed_for_rules_that_do_not_want_one() -> None:
    h = Harness(notify_resolved_rules="email-delivery")
    await h.feed(alert("10.0.0.1", state="resolved"))
    assert h.notifier.sent == []
    assert h.fence.status[alert("10.0.0.1").alert_key]["suppressed_by"] == "resolved_off"


async def test_outcomes_are_counted_for_prometheus() -> None:
    from prometheus_client import REGISTRY

    def count(outcome: str) -> float:
        return REGISTRY.get_sample_value("failstream_alerting_alerts_total", {"outcome": outcome}) or 0.0

    before = {o: count(o) for o in ("sent", "suppressed_silence", "duplicate")}
    h = Harness(silenced={"10.0.0.9"})
    await h.feed(alert("10.0.0.1"))
    await h.feed(alert("10.0.0.1"))
    await h.feed(alert("10.0.0.9"))
    assert {o: count(o) - before[o] for o in before} == {"sent": 1, "suppressed_silence": 1, "duplicate": 1}


async def test_claims_are_renewed_while_a_slow_send_is_under_way() -> None:
    import asyncio

    from failstream.alerting.lease import LeasePlan

    h = Harness()
    h.pipeline._s.lease = LeasePlan(0.3, 0.01)
    renewed: list[str] = []
    plain_renew = h.fence.renew_claims

    async def counting_renew(claims: Any) -> set[str]:
        renewed.extend(c.key for c in claims)
        return await plain_renew(claims)

    async def slow_send(message: Any, recipients: list[str]) -> str:
        await asyncio.sleep(0.1)  # real time: the keeper runs on the real clock
        h.notifier.sent.append(message)
        return ""

    h.fence.renew_claims = counting_renew  # type: ignore[method-assign]
    h.notifier.send = slow_send  # type: ignore[method-assign]
    await h.feed(alert("10.0.0.1"))
    assert len(h.notifier.sent) == 1
    assert renewed.count(alert("10.0.0.1").alert_key) >= 2  # several rounds during the one send


class SlowDecisions:
    """A decision stage whose write takes until the test says so."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.decided: list[str] = []

    async def decide(self, a: Alert) -> None:
        await self.release.wait()
        self.decided.append(a.subject)


async def test_the_email_does_not_wait_for_the_decision_but_the_alert_is_finished_only_after_it() -> None:
    decisions = SlowDecisions()
    h = Harness(decisions=decisions)
    feeding = asyncio.create_task(h.feed(alert("10.0.0.1")))
    for _ in range(100):
        await asyncio.sleep(0)
        if h.notifier.sent:
            break
    assert len(h.notifier.sent) == 1  # sent while the decision is still being written
    assert h.handled == [] and not feeding.done()  # its offset is not released before the decision
    decisions.release.set()
    await feeding
    assert decisions.decided == ["10.0.0.1"] and h.handled == [1]
