"""Waiting out a dependency: backoff bounds, one log line per change, retries only of outages."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import CollectorRegistry, Gauge

from failstream.dependency import Backoff, Dependency, until_done

REGISTRY = CollectorRegistry()
GAUGE = Gauge("dep_up", "test", ["dependency"], registry=REGISTRY)


def _gauge() -> Gauge:
    return GAUGE


def _up(name: str) -> float | None:
    return REGISTRY.get_sample_value("dep_up", {"dependency": name})


def test_backoff_grows_exponentially_to_its_cap_and_never_below_half_the_ceiling() -> None:
    low = Backoff(first_s=0.1, cap_s=2.0, rand=lambda: 0.0)
    assert [low.next() for _ in range(7)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    high = Backoff(first_s=0.1, cap_s=2.0, rand=lambda: 1.0)
    assert [high.next() for _ in range(7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    high.reset()
    assert high.next() == 0.1


def test_dependency_logs_down_and_back_once_each_and_sets_its_gauge(caplog: pytest.LogCaptureFixture) -> None:
    dep = Dependency("testdb-a", gauge=_gauge())
    with caplog.at_level(logging.INFO, logger="failstream.dependency"):
        for _ in range(3):
            dep.down(ConnectionError("refused"))
        assert _up("testdb-a") == 0
        assert Dependency.down_now()["testdb-a"] == "ConnectionError: refused"
        dep.back()
        dep.back()
    assert _up("testdb-a") == 1
    assert "testdb-a" not in Dependency.down_now()
    lines = [r.getMessage() for r in caplog.records]
    assert sum("testdb-a is down" in line for line in lines) == 1
    assert sum("testdb-a is back" in line for line in lines) == 1


async def test_until_done_retries_outages_with_backoff_then_returns_the_result() -> None:
    dep = Dependency("testdb-b", gauge=_gauge())
    attempts: list[int] = []
    slept: list[float] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 4:
            raise ConnectionError("down")
        return "written"

    async def sleep(s: float) -> None:
        slept.append(s)

    result = await until_done(flaky, dep, (ConnectionError,), backoff=Backoff(rand=lambda: 1.0), sleep=sleep)
    assert result == "written"
    assert slept == [0.2, 0.4, 0.8]
    assert dep.up


async def test_until_done_lets_bugs_and_non_retryable_errors_through() -> None:
    dep = Dependency("testdb-c", gauge=_gauge())

    async def bug() -> None:
        raise KeyError("not an outage")

    with pytest.raises(KeyError):
        await until_done(bug, dep, (ConnectionError,))

    async def refused() -> None:
        raise ConnectionRefusedError("no")

    with pytest.raises(ConnectionRefusedError):
        await until_done(refused, dep, (ConnectionError,), retryable=lambda e: False)
    assert dep.up


async def test_a_reply_to_an_attempt_begun_before_the_outage_does_not_end_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dep = Dependency("testdb-d", gauge=_gauge())
    reply = asyncio.Event()
    calls: list[str] = []

    async def slow_but_answered() -> str:  # on the wire when the server went away
        await reply.wait()
        return "answered"

    async def refused() -> str:
        calls.append("refused")
        if len(calls) == 1:
            raise ConnectionError("connection closed")
        return "written"

    async def no_sleep(_: float) -> None:
        await asyncio.sleep(0)

    with caplog.at_level(logging.INFO, logger="failstream.dependency"):
        in_flight = asyncio.ensure_future(until_done(slow_but_answered, dep, (ConnectionError,)))
        await asyncio.sleep(0)
        dep.down(ConnectionError("connection closed"))  # another attempt saw the outage
        reply.set()
        assert await in_flight == "answered"
        assert not dep.up and _up("testdb-d") == 0  # an old reply is no sign the server is back
        assert await until_done(refused, dep, (ConnectionError,), sleep=no_sleep) == "written"
    assert dep.up and _up("testdb-d") == 1
    lines = [r.getMessage() for r in caplog.records if "testdb-d" in r.getMessage()]
    said = [line.split(" (")[0].split(" after")[0] for line in lines]
    assert said == ["testdb-d is down", "testdb-d is back"]
