"""Alerts onto Kafka, each once, acknowledged before detection state moves on.

The worker flushes detection state only after ``publish`` returns, so
nothing here may give up: a raised error would end the batch with its
states changed and its alerts lost. A failed send is retried with backoff
(Kafka is marked down meanwhile) until the broker acknowledges it. The wait
is shielded: a rebalance that cancels the caller cancels it, not the sends
already handed to the producer, and the replayed batch finds them in flight
(``PublishedAlerts``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from failstream.dependency import Backoff, Dependency
from failstream.events import Alert, now_ms
from failstream.stream_app import metrics
from failstream.stream_app.published_alerts import PublishedAlerts

log = logging.getLogger("failstream.stream")

#: Hands one alert to the producer; the awaitable it returns resolves on the broker's ack.
Send = Callable[[Alert], Awaitable[Awaitable[object]]]


def _some(keys: list[str], shown: int = 3) -> str:
    return " ".join(keys[:shown]) + (f" and {len(keys) - shown} more" if len(keys) > shown else "")


class AlertPublisher:
    def __init__(
        self,
        published: PublishedAlerts,
        send: Send,
        kafka: Dependency,
        *,
        on_sent: Callable[[int], None] = lambda n: None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.published = published
        self._send = send
        self._kafka = kafka
        self._on_sent = on_sent
        self._sleep = sleep

    async def publish(self, alerts: Iterable[Alert]) -> None:
        """Send the alerts not sent before; return once the broker has every one."""
        pending = list(alerts)
        backoff = Backoff(first_s=0.1)
        while pending:
            await self.published.ready.wait()
            waits, sent, skipped, errors = await self._start_sends(pending)
            # a line per batch, not per alert: a burst of thousands is no log storm
            if sent:
                log.info("%d alert(s) sent to Kafka: %s", len(sent), _some(sent))
            if skipped:
                log.info("%d alert(s) already published, not sent again: %s", len(skipped), _some(skipped))
            results = await asyncio.shield(asyncio.gather(*(f for _, f in waits), return_exceptions=True))
            acked = [a for (a, _), r in zip(waits, results, strict=True) if not isinstance(r, BaseException)]
            metrics.observe_published(acked, now_ms())
            errors += [r for r in results if isinstance(r, BaseException)]
            pending = [a for a in pending if a.alert_key not in self.published]
            if pending:
                self._kafka.down(errors[0] if errors else TimeoutError("alerts still in flight"))
                await self._sleep(backoff.next())
            elif waits:
                self._kafka.back()

    async def _start_sends(
        self, pending: list[Alert]
    ) -> tuple[list[tuple[Alert, asyncio.Future[object]]], list[str], list[str], list[BaseException]]:
        waits: list[tuple[Alert, asyncio.Future[object]]] = []
        sent: list[str] = []
        skipped: list[str] = []
        errors: list[BaseException] = []
        for alert in pending:
            if alert.alert_key in self.published:
                skipped.append(alert.alert_key)
                continue
            future = self.published.in_flight(alert.alert_key)
            if future is None:
                try:
                    ack = await self._send(alert)
                except Exception as exc:  # producer not ready: retried like a failed ack
                    errors.append(exc)
                    continue
                future = self.published.sending(alert.alert_key, ack)
                self._on_sent(1)
                sent.append(alert.alert_key)
            waits.append((alert, future))
        return waits, sent, skipped, errors
