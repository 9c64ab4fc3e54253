"""The private parts of faust, mode and aiokafka that ``stream_app.faust_internals`` relies on.

Each check names what vanished and what to re-check, so an upgrade of a
pinned version fails here, loudly, rather than in a running worker.
"""

from __future__ import annotations

import hashlib
import inspect
from importlib.metadata import version

import faust
import pytest
from faust.stores.memory import Store as MemoryStore
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as aiokafka_driver
from mode import Service

from failstream.stream_app import faust_internals

#: sha256 of faust-streaming 0.15.3's ``Consumer._drain_messages``, which
#: ``DirectDeliveryConsumer._drain_messages`` copies with one branch added.
DRAIN_LOOP_SHA256 = "44a2500309e83c63"

METHODS = [
    (aiokafka_driver.Producer, "_ensure_producer", "aiokafka_producer"),
    (faust.Topic, "_compile_decode", "BatchedTopic"),
    (faust.App, "_new_transport", "DirectDeliveryApp"),
    (Consumer, "_drain_messages", "DirectDeliveryConsumer"),
    (Consumer, "_add_gap", "DirectDeliveryConsumer"),
    (aiokafka_driver.AIOKafkaConsumerThread, "seek_to_beginning", "DirectDeliveryConsumer"),
]
#: instance attributes, found where the class's own code assigns them
ATTRIBUTES = [
    (MemoryStore, "_key_partition", "key_partitions"),
    (Consumer, "_read_offset", "DirectDeliveryConsumer"),
    (Consumer, "_commit_every", "DirectDeliveryConsumer"),
    (Consumer, "_n_acked", "DirectDeliveryConsumer"),
    (Service, "_stopped", "DirectDeliveryConsumer"),
    (aiokafka_driver.ThreadDelegateConsumer, "_thread", "DirectDeliveryConsumer"),
]


def _name(owner: type) -> str:
    return f"{owner.__module__}.{owner.__qualname__}"


@pytest.mark.parametrize(("owner", "name", "user"), METHODS)
def test_pinned_faust_still_has_the_private_method(owner: type, name: str, user: str) -> None:
    assert callable(getattr(owner, name, None)), (
        f"{_name(owner)}.{name} is gone (faust-streaming {version('faust-streaming')}, "
        f"mode-streaming {version('mode-streaming')}): stream_app.faust_internals.{user} relies on it"
    )


@pytest.mark.parametrize(("owner", "name", "user"), ATTRIBUTES)
def test_pinned_faust_still_sets_the_private_attribute(owner: type, name: str, user: str) -> None:
    source = inspect.getsource(inspect.getmodule(owner))  # type: ignore[arg-type]
    assert f"self.{name} " in source or f"self.{name}:" in source, (
        f"{_name(owner)} no longer sets self.{name} (faust-streaming {version('faust-streaming')}): "
        f"failstream.stream_app.faust_internals.{user} relies on it"
    )


def test_the_copied_drain_loop_matches_the_pinned_faust() -> None:
    source = inspect.getsource(Consumer._drain_messages)
    found = hashlib.sha256(source.encode()).hexdigest()[:16]
    assert found == DRAIN_LOOP_SHA256, (
        f"faust-streaming {version('faust-streaming')} changed Consumer._drain_messages: "
        "merge its changes into stream_app.faust_internals.DirectDeliveryConsumer._drain_messages, "
        "then record the new hash here"
    )


def test_the_consumer_faust_builds_is_the_one_the_copy_extends() -> None:
    assert issubclass(faust_internals.DirectDeliveryConsumer, aiokafka_driver.Consumer)
    assert aiokafka_driver.Consumer._drain_messages is Consumer._drain_messages
