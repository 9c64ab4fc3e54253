"""Alerts reach Kafka once each, and a failed send is retried until acknowledged."""

from __future__ import annotations

import asyncio

from failstream.dependency import Dependency
from failstream.events import Alert
from failstream.settings import Settings
from failstream.stream_app.alert_publisher import AlertPublisher
from failstream.stream_app.detection.alert import to_alert
from failstream.stream_app.detection.notification import Notification
from failstream.stream_app.kafka_writes import Send, until_acknowledged
from failstream.stream_app.published_alerts import PublishedAlerts


def _alert(subject: str) -> Alert:
    return to_alert(
        Notification(
            rule="ip-failures",
            subject=subject,
            state="firing",
            alert_key=f"ip-failures:{subject}:1",
            episode_start=1,
            count=5,
            threshold=5,
            window_s=600,
            first_seen=1,
            last_seen=2,
        )
    )


class Broker:
    """Acknowledges sends at once, after failing the first ``fail_first`` of them."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.sends: list[str] = []

    async def send(self, alert: Alert) -> asyncio.Future[object]:
        self.sends.append(alert.alert_key)
        ack: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if len(self.sends) <= self.fail_first:
            ack.set_exception(ConnectionError("broker away"))
        else:
            ack.set_result("metadata")
        return ack


def _publisher(broker: Broker, slept: list[float]) -> tuple[AlertPublisher, PublishedAlerts, Dependency]:
    """The publisher; each backoff sleep records whether Kafka was shown down (0) or up (1)."""
    published = PublishedAlerts(Settings())
    published.ready.set()
    kafka = Dependency("kafka-publisher-test")

    async def sleep(s: float) -> None:
        slept.append(float(kafka.up))

    return AlertPublisher(published, broker.send, kafka, sleep=sleep), published, kafka


async def test_each_alert_is_sent_once_and_a_published_key_is_not_sent_again() -> None:
    broker = Broker()
    publisher, published, _ = _publisher(broker, [])
    await publisher.publish([_alert("10.0.0.1"), _alert("10.0.0.2")])
    await publisher.publish([_alert("10.0.0.1")])
    assert broker.sends == ["ip-failures:10.0.0.1:1", "ip-failures:10.0.0.2:1"]
    assert "ip-failures:10.0.0.2:1" in published


async def test_failed_sends_are_retried_until_acknowledged_with_kafka_shown_down_meanwhile() -> None:
    broker = Broker(fail_first=3)
    up_while_waiting: list[float] = []
    publisher, published, kafka = _publisher(broker, up_while_waiting)
    await publisher.publish([_alert("10.0.0.1"), _alert("10.0.0.2")])
    assert "ip-failures:10.0.0.1:1" in published and "ip-failures:10.0.0.2:1" in published
    assert broker.sends.count("ip-failures:10.0.0.1:1") >= 2
    assert up_while_waiting == [0.0, 0.0]  # two rounds failed (3 sends), both waited with Kafka down
    assert kafka.up


async def test_writes_are_sent_again_until_every_one_is_acknowledged() -> None:
    attempts: dict[str, int] = {"a": 0, "b": 0}

    def send(name: str, failures: int) -> Send:
        async def start() -> asyncio.Future[object]:
            attempts[name] += 1
            ack: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            if attempts[name] <= failures:
                ack.set_exception(ConnectionError("leader moving"))
            else:
                ack.set_result(name)
            return ack

        return start

    kafka = Dependency("kafka-writes-test")

    async def no_wait(s: float) -> None:
        assert not kafka.up

    await until_acknowledged([send("a", 0), send("b", 2)], kafka, sleep=no_wait)
    assert attempts == {"a": 1, "b": 3}
    assert kafka.up


async def test_a_send_the_producer_cancelled_is_sent_again_not_taken_for_a_stop() -> None:
    attempts = [0]

    async def start() -> asyncio.Future[object]:
        attempts[0] += 1
        ack: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if attempts[0] == 1:
            ack.cancel()  # the producer dropped the batch
        else:
            ack.set_result("metadata")
        return ack

    async def no_wait(s: float) -> None:
        return None

    await until_acknowledged([start], Dependency("kafka-cancelled-test"), sleep=no_wait)
    assert attempts[0] == 2
