"""Every touch of a private or undocumented part of faust, mode and aiokafka, in one module.

``tests/unit/stream_app/test_faust_internals.py`` fails with a clear message
when the pinned versions no longer have one of them. What is here:

- the aiokafka producer under Faust's (``Producer._ensure_producer``) and the
  memory store's key-to-partition map (``Store._key_partition``), for
  ``table_writes``;
- ``BatchedTopic``, a topic whose decoder (``Topic._compile_decode``) hands
  the raw message on;
- Faust's aiokafka transport, delivering messages of batched topics without
  a task each (``App._new_transport``, ``Consumer._drain_messages`` and the
  consumer state that loop reads):

Faust's drain loop hands every fetched message to the conductor inside
``wait_first(callback(message), suspend_flow.wait())`` so that a rebalance
can cut a delivery short that waits on a full queue. That is four tasks, an
``asyncio.wait`` and three cancellations per message: on this project's
machine most of what a Faust agent costs a message, and the reason no agent
could reach 20 000 events/s. A message of a batched topic cannot wait once
flow control is open and the producer buffer is below its limit (its
``MessageBuffer`` never refuses one), so it goes straight into that buffer,
with the back-pressure callbacks the conductor would give it; every other
message takes Faust's own path, unchanged.

The loop below is Faust's ``Consumer._drain_messages`` (faust-streaming
0.15.3, BSD licence) with that branch added, and one fix: no batch is
delivered across a seek (``_seek_epoch``). Faust resumes the stream
partitions just before it seeks them to the committed offsets, so the first
fetch of a restarted worker (its backlog) can be under way when the seek
lands. Delivering that batch's rest would jump the read offset and book the
records in between as a gap (acked, never processed). Dropping it is not
enough either: the fetcher's position has already moved past the dropped
records, whether they came from before the seek or after it, so the next
fetch would start beyond them and book them as a gap all the same. So the
loop drops the rest and seeks to the committed offsets again, and the
records are read once more (detection skips what a state already holds).
A partition with no committed offset yet is sought to its beginning, the
group's ``auto_offset_reset``, where aiokafka's ``seek_to_committed`` leaves
it alone (``Consumer.seek_to_committed``, ``_thread``). A gap still booked
on these topics (neither compacted nor transactional) would be a loss: it
is logged. Read offsets, gaps and
``broker_commit_every`` otherwise behave as there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, Message
from mode import Service, ServiceT

from failstream.stream_app.message_buffer import MessageBuffer

log = logging.getLogger(__name__)


def aiokafka_producer(app: faust.App) -> Any:
    """The aiokafka producer under Faust's, started if it was not."""
    return cast(Any, app.producer)._ensure_producer()


def key_partitions(store: Any) -> dict[bytes, int] | None:
    """The memory store's key -> partition map (None on another store).

    Faust drops the keys of partitions no longer assigned once a rebalance's
    recovery completes, but knows the partition only of keys it recovered.
    """
    found: dict[bytes, int] | None = getattr(store, "_key_partition", None)
    return found


class BatchedTopic(faust.Topic):
    """A subscribed topic whose conductor callback appends raw messages to a MessageBuffer."""

    buffer: MessageBuffer

    @property
    def queue(self) -> Any:  # the conductor only calls full() and put_nowait_enhanced()
        return self.buffer

    def _compile_decode(self) -> None:
        # Faust compiles the schema's decoder onto the instance; ours makes no
        # Event and runs no serializer: the batch handler reads key and value itself.
        async def message_itself(message: Message, *, propagate: bool = False) -> Message:
            return message

        self.decode = message_itself  # type: ignore[method-assign,assignment]


class DirectDeliveryConsumer(aiokafka_driver.Consumer):
    #: bumped by every seek: the drain loop drops the rest of a batch fetched or delivered while it
    #: changed, and seeks again (see ``_drain_messages``)
    _seek_epoch = 0

    async def perform_seek(self) -> None:
        self._seek_epoch += 1  # stop delivering the batch at hand now
        try:
            await super().perform_seek()
        finally:
            self._seek_epoch += 1  # and whatever was fetched while the seek ran

    async def seek(self, partition: TP, offset: int) -> None:
        self._seek_epoch += 1
        try:
            await super().seek(partition, offset)
        finally:
            self._seek_epoch += 1

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Seek to the committed offsets; a batched topic's partition without one, to its beginning.

        aiokafka seeks only partitions whose committed offset is above 0 and
        leaves the others where the fetcher is. A group that has committed
        nothing yet (a worker's first start on a backlog, or one killed before
        its first commit) then skipped the records the loop had dropped at a
        seek, silently: with no read offset there is no gap to book. Where
        nothing is committed the group reads from the earliest offset (the
        worker's ``auto_offset_reset``), so that is where to read again;
        changelog partitions are left to Faust's recovery.
        """
        committed = await super().seek_to_committed()
        batched = cast(Any, self.app).batched_topics
        fresh = [tp for tp, offset in committed.items() if not offset and tp.topic in batched]
        if fresh:
            await cast(Any, self)._thread.seek_to_beginning(*fresh)
        return committed

    async def _seek_again(self) -> None:
        """Seek to the committed offsets again, until it lands: the loop dropped records past them.

        Fetching on first would start beyond the dropped records and book them
        as a gap. With nothing assigned there is nothing to read again: the next
        assignment seeks by itself.
        """
        failed = False
        backoff_s = 0.5
        while not self.should_stop and self.assignment():
            try:
                await self.perform_seek()
            except Exception as exc:  # the broker may be away: retry, never read past the dropped records
                if not failed:
                    log.warning("seeking back to the committed offsets failed (%r); retrying", exc)
                    failed = True
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 5.0)
                continue
            if failed:
                log.info("seeked back to the committed offsets")
            return

    def _direct_delivery(self) -> Callable[[TP, Message], bool]:
        """``deliver(tp, message)``: into its topic's buffer, as the conductor would, if nothing waits.

        False leaves the message to the conductor: a topic that is not
        batched, flow control closed (a rebalance), or a backed-up producer
        buffer, where the conductor applies Faust's back-pressure.
        """
        app = cast(Any, self.app)
        buffers: dict[str, MessageBuffer] = app.batched_topics
        if app.conf.producer_threaded:  # its buffer is counted elsewhere: always the conductor
            return lambda tp, message: False
        suspended = self.suspend_flow.is_set
        flow_open = app.flow_control.is_active
        producer_pending = app.producer.buffer.pending
        producer_limit = app.producer.buffer.max_messages
        on_buffer_full, on_buffer_drop = self.on_buffer_full, self.on_buffer_drop
        sensor_buffer_full = app.sensors.on_topic_buffer_full
        pressure: dict[TP, tuple[Callable[[], None], Callable[[], None]]] = {}

        def deliver(tp: TP, message: Message) -> bool:
            buffer = buffers.get(tp.topic)
            if buffer is None or suspended() or not flow_open() or producer_pending.qsize() > producer_limit:
                return False
            callbacks = pressure.get(tp)
            if callbacks is None:
                faust_tp = TP(tp.topic, tp.partition)  # the fetcher's is aiokafka's; the consumer keeps TPs

                def high() -> None:
                    sensor_buffer_full(faust_tp)
                    on_buffer_full(faust_tp)

                callbacks = pressure[tp] = (high, partial(on_buffer_drop, faust_tp))
            buffer.put_nowait_enhanced(message, on_pressure_high=callbacks[0], on_pressure_drop=callbacks[1])
            return True

        return deliver

    async def _drain_messages(self, fetcher: ServiceT) -> None:  # pragma: no cover
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        deliver = self._direct_delivery()
        yield_every = 100
        num_since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                epoch = self._seek_epoch
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await asyncio.sleep(0)
                            num_since_yield = 0
                        if self._seek_epoch != epoch:
                            # A seek (a rebalance's seek to the committed offsets) ran while this
                            # batch was fetched or delivered. Its rest may be from before the seek
                            # (delivered, it would jump the read offset) or after it (the fetcher
                            # is already past it): drop it and read it again from the committed
                            # offsets, or the next fetch books it as a gap, acked unread.
                            break
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                log.warning(
                                    "%s[%d]: offsets %d-%d were not fetched; booked as read",
                                    tp.topic,
                                    tp.partition,
                                    r_offset + 1,
                                    offset - 1,
                                )
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            if not deliver(tp, message):
                                await self.wait_first(callback(message), self.suspend_flow.wait())
                            set_read_offset(tp, offset)
                    self.diag.unset_flag(CONSUMER_FETCHING)
                    if self._seek_epoch != epoch:  # Faust's getmany may have cut the batch itself
                        await self._seek_again()
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

    #: topic -> buffer, for topics subscribed through ``subscribe_batched``
    batched_topics: dict[str, MessageBuffer]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batched_topics = {}

    def _new_transport(self) -> Any:
        return DirectDeliveryTransport(self.conf.broker_consumer, self)
