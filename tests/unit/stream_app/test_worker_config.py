"""What the worker asks of Faust and Kafka, read off the app it builds (nothing is started)."""

from __future__ import annotations

from pathlib import Path

from failstream.settings import Settings
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
