from __future__ import annotations

import asyncio

from failstream.api.live.hub import LiveHub, Pushed


def p(ts: int) -> Pushed:
    return Pushed(ts, f'{{"ts":{ts}}}')


async def drain(sub_next: object, n: int) -> list[int]:
    out = []
    for _ in range(n):
        item = await asyncio.wait_for(sub_next(), 1)  # type: ignore[operator]
        assert item is not None
        out.append(item.ts)
    return out


async def test_every_subscriber_gets_every_second_in_order() -> None:
    hub = LiveHub(replay=10, client_queue=5)
    subs = [hub.subscribe() for _ in range(3)]
    for ts in (1000, 2000, 3000):
        hub.publish(p(ts))
    for sub in subs:
        assert await drain(sub.next, 3) == [1000, 2000, 3000]


async def test_a_full_buffer_drops_that_client_only_and_publish_never_waits() -> None:
    hub = LiveHub(replay=10, client_queue=2)
    slow, fast = hub.subscribe(), hub.subscribe()
    for ts in (1000, 2000):
        hub.publish(p(ts))
    assert await drain(fast.next, 2) == [1000, 2000]
    hub.publish(p(3000))  # slow has 2 unsent: this one does not fit
    assert slow.dropped and hub.dropped == 1 and hub.clients == 1
    assert await slow.next() is None
    assert await drain(fast.next, 1) == [3000]


async def test_a_resuming_client_first_gets_what_it_missed_then_live_without_duplicates() -> None:
    hub = LiveHub(replay=10, client_queue=2)
    for ts in range(1000, 6000, 1000):
        hub.publish(p(ts))
    sub = hub.subscribe(since=2000)  # replay is not limited by the client buffer
    hub.publish(p(6000))
    assert await drain(sub.next, 4) == [3000, 4000, 5000, 6000]


async def test_a_resume_point_ahead_of_this_process_skips_seconds_already_seen() -> None:
    hub = LiveHub(replay=10, client_queue=5)
    hub.publish(p(1000))
    sub = hub.subscribe(since=3000)  # seen on another, further process
    for ts in (2000, 3000, 4000):
        hub.publish(p(ts))
    assert await drain(sub.next, 1) == [4000]


async def test_resuming_beyond_the_ring_gives_what_the_ring_still_has() -> None:
    hub = LiveHub(replay=3, client_queue=5)
    for ts in range(1000, 11000, 1000):
        hub.publish(p(ts))
    sub = hub.subscribe(since=1000)
    assert await drain(sub.next, 3) == [8000, 9000, 10000]


async def test_history_read_at_startup_goes_to_resuming_clients_not_fresh_ones() -> None:
    hub = LiveHub(replay=10, client_queue=2)
    fresh, resuming = hub.subscribe(), hub.subscribe(since=2000)
    hub.preload([p(ts) for ts in range(1000, 6000, 1000)])  # more than a client buffer
    hub.publish(p(6000))
    assert not fresh.dropped and not resuming.dropped
    assert await drain(fresh.next, 1) == [6000]
    assert await drain(resuming.next, 4) == [3000, 4000, 5000, 6000]
    assert [x.ts for x in hub.subscribe(since=4000)._items] == [5000, 6000]


async def test_closing_wakes_a_waiting_sender_and_unsubscribes() -> None:
    hub = LiveHub(replay=10, client_queue=5)
    sub = hub.subscribe()
    waiting = asyncio.create_task(sub.next())
    await asyncio.sleep(0)
    hub.close_all()
    assert await asyncio.wait_for(waiting, 1) is None
    assert hub.clients == 0 and not sub.dropped
