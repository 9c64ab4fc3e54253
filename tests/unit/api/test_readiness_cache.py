"""/readyz's answer: one probe per second however many ask, shared while it runs."""

from __future__ import annotations

import asyncio

from failstream.api.readiness import ReadinessCheck


class SlowProbe:
    def __init__(self, answer: str = "ok", delay_s: float = 0.05) -> None:
        self.calls = 0
        self.answer = answer
        self.delay_s = delay_s

    async def __call__(self) -> str:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        return self.answer


async def test_a_flood_of_concurrent_callers_shares_one_probe() -> None:
    mongo, kafka = SlowProbe(), SlowProbe("error: KafkaException")
    check = ReadinessCheck({"mongodb": mongo, "kafka": kafka})
    answers = await asyncio.gather(*(check.checks() for _ in range(1000)))
    assert (mongo.calls, kafka.calls) == (1, 1)
    assert all(a == {"mongodb": "ok", "kafka": "error: KafkaException"} for a in answers)


async def test_an_answer_is_reused_for_a_second_then_probed_again() -> None:
    now = [100.0]
    probe = SlowProbe(delay_s=0)
    check = ReadinessCheck({"mongodb": probe}, clock=lambda: now[0])
    await check.checks()
    now[0] += 0.9
    await check.checks()
    assert probe.calls == 1
    now[0] += 0.2
    probe.answer = "error: ServerSelectionTimeoutError"
    assert await check.checks() == {"mongodb": "error: ServerSelectionTimeoutError"}
    assert probe.calls == 2


async def test_a_caller_that_gives_up_does_not_cancel_the_probe_others_wait_for() -> None:
    probe = SlowProbe(delay_s=0.1)
    check = ReadinessCheck({"kafka": probe})
    impatient = asyncio.create_task(check.checks())
    patient = asyncio.create_task(check.checks())
    await asyncio.sleep(0.01)
    impatient.cancel()
    assert await patient == {"kafka": "ok"}
    assert probe.calls == 1


async def test_the_probe_counter_counts_probes_not_requests() -> None:
    counted = []
    check = ReadinessCheck({"kafka": SlowProbe()}, on_probe=lambda: counted.append(1))
    await asyncio.gather(*(check.checks() for _ in range(50)))
    assert len(counted) == 1
