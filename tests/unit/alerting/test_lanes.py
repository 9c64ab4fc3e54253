from __future__ import annotations

import asyncio

import pytest

from failstream.alerting.lanes import SubjectLanes


async def test_one_subjects_alerts_run_in_order_while_other_subjects_overlap() -> None:
    lanes = SubjectLanes(concurrency=4)
    log: list[str] = []
    release_a1 = asyncio.Event()

    async def work(name: str, gate: asyncio.Event | None = None) -> None:
        log.append(f"start {name}")
        if gate is not None:
            await gate.wait()
        log.append(f"end {name}")

    lanes.submit(b"a", lambda: work("a1", release_a1))
    lanes.submit(b"a", lambda: work("a2"))
    lanes.submit(b"b", lambda: work("b1"))
    await asyncio.sleep(0.01)
    assert log == ["start a1", "start b1", "end b1"]  # b did not wait for a; a2 waits for a1
    release_a1.set()
    await lanes.drain()
    assert log[3:] == ["end a1", "start a2", "end a2"]


async def test_backpressure_waits_until_there_is_room() -> None:
    lanes = SubjectLanes(concurrency=1)
    gate = asyncio.Event()
    lanes.submit(1, gate.wait)  # type: ignore[arg-type]
    lanes.submit(2, gate.wait)  # type: ignore[arg-type]
    waiter = asyncio.create_task(lanes.wait_for_room(2))
    await asyncio.sleep(0.01)
    assert not waiter.done() and lanes.in_flight() == 2
    gate.set()
    await asyncio.wait_for(waiter, 1)
    await lanes.drain()


async def test_a_failed_alert_is_raised_so_the_process_stops_without_committing_it() -> None:
    lanes = SubjectLanes(concurrency=2)

    async def boom() -> None:
        raise RuntimeError("mongo gone")

    lanes.submit("x", boom)
    with pytest.raises(RuntimeError, match="mongo gone"):
        await lanes.drain()
