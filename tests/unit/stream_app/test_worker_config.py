"""What the worker asks of Faust and Kafka, read off the app it builds (nothing is started)."""

from __future__ import annotations

from pathlib import Path

from failstream.settings import Settings
from failstream.stream_app.batched_topic import BatchedTopic
from failstream.stream_app.detection.prefix_forward import repartition_topic
from failstream.stream_app.worker import create_app


def test_an_unacknowledged_kafka_write_fails_within_the_write_timeout_not_faust_s_twenty_minutes(
    tmp_path: Path,
) -> None:
    settings = Settings().model_copy(
        update={"stream_data_dir": tmp_path, "stream_kafka_write_timeout_s": 25.0}
    )
    app = create_app(settings)
    assert app.conf.producer_request_timeout == 25.0


def test_a_worker_with_an_instance_id_is_a_static_member_of_its_group(tmp_path: Path) -> None:
    settings = Settings().model_copy(update={"stream_data_dir": tmp_path, "stream_instance_id": "stream-1"})
    assert create_app(settings).conf.consumer_group_instance_id == "stream-1"
    dynamic = Settings().model_copy(update={"stream_data_dir": tmp_path})
    assert create_app(dynamic).conf.consumer_group_instance_id is None


def test_the_worker_s_changelog_topics_are_replicated_like_the_pipeline_s_topics(tmp_path: Path) -> None:
    settings = Settings().model_copy(update={"stream_data_dir": tmp_path, "kafka_replication_factor": 3})
    assert create_app(settings).conf.topic_replication_factor == 3


def test_every_topic_the_worker_reads_is_acked_by_its_own_batch_tasks_not_by_faust_streams(
    tmp_path: Path,
) -> None:
    # a Faust agent acks a batch when it ends inside it, and its stream acks what it skips after a
    # rebalance: either lets a commit pass records whose detection states were never written
    settings = Settings().model_copy(update={"stream_data_dir": tmp_path})
    app = create_app(settings)
    subscribed = {topic: type(channel) for channel in app.topics for topic in channel.topics}
    assert set(subscribed) == {
        settings.topic_failed_requests,
        settings.topic_email_events,
        repartition_topic(settings),
    }
    assert set(subscribed.values()) == {BatchedTopic}
    assert list(app.agents) == []
    prefix_channel = next(c for c in app.topics if repartition_topic(settings) in c.topics)
    assert (
        prefix_channel.internal and prefix_channel.partitions == settings.kafka_partitions
    )  # Faust creates it
