"""Faust's aiokafka transport, delivering messages of batched topics without a task each.

Faust's drain loop hands every fetched message to the conductor inside
``wait_first(callback(message), suspend_flow.wait())`` so that a rebalance
can cut a delivery short that waits on a full queue. That is four tasks, an
``asyncio.wait`` and three cancellations per message: on this project's
machine most of what a Faust agent costs a message, and the reason no agent
could reach 20 000 events/s. A delivery to a :class:`BatchedTopic` cannot wait
once flow control is open, the producer buffer is below its limit and the
conductor's index is not being rebuilt (the buffer never refuses a
message), so such a delivery is a plain ``await``; every other message takes
Faust's own path, unchanged.

The loop below is Faust's ``Consumer._drain_messages`` (faust-streaming
0.15.3, BSD licence) with that one branch added; read offsets, gaps and
``broker_commit_every`` behave as there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from mode import Service, ServiceT


class DirectDeliveryConsumer(aiokafka_driver.Consumer):
    def _direct_delivery_check(self) -> Callable[[TP], bool]:
        """``check(tp)``: would the conductor deliver a message of ``tp`` without waiting?"""
        app = cast(Any, self.app)
        batched: set[str] = app.batched_topics
        suspended = self.suspend_flow.is_set
        flow_open = app.flow_control.is_active
        producer_buffer = app.producer.buffer
        index_locked = app.topics._tp_to_callback_lock.locked

        def check(tp: TP) -> bool:
            return (
                tp.topic in batched
                and not suspended()
                and flow_open()
                and producer_buffer.size <= producer_buffer.max_messages
                and not index_locked()
            )

        return check

    async def _drain_messages(self, fetcher: ServiceT) -> None:  # pragma: no cover
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        direct = self._direct_delivery_check()
        yield_every = 100
        num_since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await asyncio.sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            if direct(tp):
                                await callback(message)
                            else:
                                await self.wait_first(callback(message), self.suspend_flow.wait())
                            set_read_offset(tp, offset)
                    self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)


class DirectDeliveryTransport(aiokafka_driver.Transport):
    Consumer = DirectDeliveryConsumer


class DirectDeliveryApp(faust.App):
    """A Faust app whose consumer delivers batched topics' messages directly."""

    #: topics subscribed through ``subscribe_batched``
    batched_topics: set[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batched_topics = set()

    def _new_transport(self) -> Any:
        return DirectDeliveryTransport(self.conf.broker_consumer, self)
