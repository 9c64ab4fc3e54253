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

from time import monotonic
from typing import Any

import faust
from faust.types import Message

from failstream.stream_app.faust_internals import BatchedTopic
from failstream.stream_app.message_buffer import MessageBuffer

__all__ = ["BatchedTopic", "MessageBuffer", "ack_all", "subscribe_batched", "take_batch"]


def subscribe_batched(
    app: faust.App, topic: str, buffer: MessageBuffer, **topic_options: Any
) -> BatchedTopic:
    """Subscribe the app to ``topic``, delivering its messages into ``buffer``.

    The buffer must be the topic's only subscriber in the app: a
    ``DirectDeliveryApp`` fills it without asking the conductor for others.
    ``topic_options`` are ``faust.Topic``'s (``internal=True`` and
    ``partitions``: Faust creates the topic, as it does a repartition topic).
    """
    channel = BatchedTopic(
        app, topics=[topic], key_type=bytes, value_type=bytes, is_iterator=True, **topic_options
    )
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
    # what a Faust stream records per event, once per batch here: Faust's livelock check then
    # tells a stalled batch path from a working one instead of calling it "not started"
    inbound, now = app.monitor.stream_inbound_time, monotonic()
    for tp in {m.tp for m in batch}:
        inbound[tp] = now
    return batch


def ack_all(app: faust.App, messages: list[Message]) -> None:
    """Mark the messages processed: their offsets may now be committed."""
    consumer = app.consumer
    for message in messages:
        message.ack(consumer)
