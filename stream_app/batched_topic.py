"""A Faust topic whose messages reach a batch handler directly, not a Stream per event.

Faust's Stream path (channel queue -> stream iterator -> processors -> the
``take`` buffer -> one ack per event, each a few awaits and sensor calls)
cost about 60 µs a message on this project's machine: a Faust agent that
only counted could not reach 20 000 events/s, whatever the agent did. The
detection logic works on whole batches anyway, so this channel hands the
conductor a buffer in place of the queue it normally fills, and one task
takes the raw messages from it in batches.

Everything else stays Faust's: the consumer and fetcher, the conductor,
flow control during rebalances (which clears this buffer like any other
channel queue, so the messages not yet started are read again from the
committed offset), back-pressure (a partition's fetching pauses while the
buffer is over its high-water mark), offset tracking and commits (an offset
is committed only once its message is acked), the tables and their
changelogs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

import faust
from faust.types import Message


class MessageBuffer:
    """Messages the conductor delivered, in arrival order, handed out in batches.

    Duck-types the two methods of ``ThrowableQueue`` that Faust's conductor
    calls (``full`` and ``put_nowait_enhanced``) and the ``clear`` that flow
    control calls when partitions are revoked.
    """

    def __init__(self, max_batch: int, high_water: int) -> None:
        self.max_batch = max_batch
        self.high_water = max(high_water, max_batch)
        self._messages: deque[Message] = deque()
        self._batch_ready: asyncio.Event | None = None
        self._paused: set[Callable[[], None]] = set()

    def __len__(self) -> int:
        return len(self._messages)

    def full(self) -> bool:
        return False  # never refuse: over the high-water mark the partition stops fetching instead

    def put_nowait_enhanced(
        self,
        value: Message,
        *,
        on_pressure_high: Callable[[], None],
        on_pressure_drop: Callable[[], None],
    ) -> bool:
        self._messages.append(value)
        n = len(self._messages)
        if n >= self.max_batch and self._batch_ready is not None:
            self._batch_ready.set()
        if n >= self.high_water:
            on_pressure_high()
            self._paused.add(on_pressure_drop)
            return True
        return False

    def clear(self) -> None:
        self._messages.clear()
        self._resume_fetching()

    async def take(self, within_s: float) -> list[Message]:
        """Up to ``max_batch`` messages: at once when that many wait, else after ``within_s``."""
        if self._batch_ready is None:
            self._batch_ready = asyncio.Event()
        if len(self._messages) < self.max_batch:
            self._batch_ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._batch_ready.wait(), within_s)
        n = min(len(self._messages), self.max_batch)
        popleft = self._messages.popleft
        batch = [popleft() for _ in range(n)]
        if self._paused and len(self._messages) <= self.high_water // 2:
            self._resume_fetching()
        return batch

    def _resume_fetching(self) -> None:
        paused, self._paused = self._paused, set()
        for resume in paused:
            resume()


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


def subscribe_batched(app: faust.App, topic: str, buffer: MessageBuffer) -> BatchedTopic:
    """Subscribe the app to ``topic``, delivering its messages into ``buffer``.

    The buffer must be the topic's only subscriber in the app: a
    ``DirectDeliveryApp`` fills it without asking the conductor for others.
    """
    channel = BatchedTopic(app, topics=[topic], key_type=bytes, value_type=bytes, is_iterator=True)
    channel.buffer = buffer
    app.topics.add(channel)
    batched = getattr(app, "batched_topics", None)
    if batched is not None:  # a DirectDeliveryApp: its consumer fills the buffer itself
        batched[topic] = buffer
    app.flow_control.manage_queue(buffer)  # type: ignore[arg-type]  # a revocation clears it
    return channel


async def take_batch(app: faust.App, buffer: MessageBuffer, within_s: float) -> list[Message]:
    """The next batch from ``buffer``, as a Faust stream would take its events.

    Messages fetched before the current rebalance generation, or while flow
    control is closed, are skipped: they are read again from the committed
    offset. The rest are tracked as unacknowledged, so a revocation waits
    for them to be acked before it commits and hands their partitions over.
    """
    messages = await buffer.take(within_s)
    if not messages or not app.flow_control.is_active():
        return []
    generation = app.consumer_generation_id
    consumer = app.consumer
    batch = [m for m in messages if m.generation_id == generation]
    for message in batch:
        message.tracked = True
        consumer.track_message(message)
    return batch


def ack_all(app: faust.App, messages: list[Message]) -> None:
    """Mark the messages processed: their offsets may now be committed."""
    consumer = app.consumer
    for message in messages:
        message.ack(consumer)
