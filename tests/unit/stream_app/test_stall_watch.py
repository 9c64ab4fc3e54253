"""The failures task's watchdog: a task stuck on an await is said once, with where it waits."""

from __future__ import annotations

import asyncio
import logging

import pytest

from failstream.dependency import Dependency
from failstream.stream_app.stall_watch import StallWatch, await_chain


async def _stuck_inside_a_send(never: asyncio.Event) -> None:
    await never.wait()


async def _failures_round(never: asyncio.Event) -> None:
    await _stuck_inside_a_send(never)


@pytest.fixture(autouse=True)
def _no_dependencies_down() -> None:
    for dependency in list(Dependency.known.values()):
        dependency.back()


async def test_a_task_that_stops_coming_round_is_said_once_with_the_await_it_is_stuck_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    watch = StallWatch("test task a", stall_after_s=60, clock=lambda: now[0])
    never = asyncio.Event()
    task = asyncio.create_task(_failures_round(never))
    await asyncio.sleep(0)
    watch.started(task)
    now[0] = 59
    assert not watch.check()
    now[0] = 61
    with caplog.at_level(logging.ERROR, "failstream.stream"):
        assert watch.check()
        assert watch.check()
    stalled = [r.getMessage() for r in caplog.records if "has not come round" in r.getMessage()]
    assert len(stalled) == 1 and "_stuck_inside_a_send" in stalled[0]
    assert "test task a" in Dependency.down_now()  # /readyz says so

    watch.beat()
    assert "test task a" not in Dependency.down_now()
    task.cancel()


async def test_waiting_out_a_dependency_that_is_down_is_no_stall() -> None:
    now = [0.0]
    watch = StallWatch("test task b", stall_after_s=60, clock=lambda: now[0])
    task = asyncio.create_task(asyncio.Event().wait())
    watch.started(task)
    kafka = Dependency.named("kafka")
    kafka.down(ConnectionError("broker away"))
    now[0] = 300
    assert not watch.check()
    kafka.back()
    now[0] = 330
    assert not watch.check()  # the outage counted as progress: the clock starts anew at its end
    task.cancel()


async def test_the_await_chain_names_each_coroutine_outermost_first() -> None:
    never = asyncio.Event()
    task = asyncio.create_task(_failures_round(never))
    await asyncio.sleep(0)
    chain = await_chain(task)
    assert [step.rsplit(" in ", 1)[1] for step in chain[:2]] == ["_failures_round", "_stuck_inside_a_send"]
    task.cancel()
