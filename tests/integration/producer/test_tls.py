"""Mutual TLS against the local broker's SSL listener, as with Aiven's client certificates."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from failstream.infra.certs import TLS_DIR
from failstream.kafka_config import KafkaCredentialsError
from failstream.producer.sink import KafkaSink
from failstream.settings import Settings
from tests.integration.producer.support import read_events

pytestmark = pytest.mark.integration


def _ssl(settings: Settings, tmp_path: Path, cafile: Path = TLS_DIR / "ca.pem") -> Settings:
    return settings.model_copy(
        update={
            "kafka_bootstrap_servers": f"127.0.0.1:{settings.infra_kafka_ssl_port}",
            "kafka_security_protocol": "SSL",
            "kafka_ssl_cafile": cafile,
            "kafka_ssl_certfile": TLS_DIR / "service.cert",
            "kafka_ssl_keyfile": TLS_DIR / "service.key",
            "producer_spool_dir": tmp_path / "spool",
            "producer_message_timeout_ms": 3000,
        }
    )


@pytest.fixture
def other_ca(tmp_path: Path) -> Path:
    """A CA that did not sign the broker's certificate."""
    ca = tmp_path / "other-ca.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(tmp_path / "other-ca.key"),
            "-out",
            str(ca),
            "-days",
            "1",
            "-subj",
            "/CN=Not the broker's CA",
        ],
        check=True,
        capture_output=True,
    )
    return ca


def test_events_reach_the_broker_over_mutual_tls(settings: Settings, tmp_path: Path) -> None:
    ssl_settings = _ssl(settings, tmp_path)
    sink = KafkaSink(ssl_settings)
    sink.start()
    sink.send(ssl_settings.topic_email_events, "example.com", b'{"over": "tls"}')
    assert sink.flush(15) == 0
    sink.close(5)
    assert sink.delivered == 1 and sink.spooled == 0
    assert read_events(ssl_settings, ssl_settings.topic_email_events, expect=1) == [
        (b"example.com", {"over": "tls"})
    ]


def test_a_wrong_ca_is_reported_once_in_one_clear_line_and_nothing_is_lost(
    settings: Settings, tmp_path: Path, other_ca: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="failstream.producer")
    sink = KafkaSink(_ssl(settings, tmp_path, other_ca))
    sink.start()
    sink.send(settings.topic_email_events, "example.com", b"{}")
    time.sleep(5)  # librdkafka retries the handshake many times in this span
    tls_lines = [r.getMessage() for r in caplog.records if "TLS" in r.getMessage()]
    assert len(tls_lines) == 1, tls_lines
    assert tls_lines[0].startswith(
        "Kafka TLS handshake failed: the broker's certificate is not signed by the CA"
    )
    assert str(other_ca) in tls_lines[0] and "FAILSTREAM_KAFKA_SSL_CAFILE" in tls_lines[0]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "unreachable" in r.getMessage()]
    assert sink.close(2) == 1  # the event waits in the spool instead of being lost
    assert sink.delivered == 0


def test_a_missing_ca_file_fails_start_up_with_one_line(settings: Settings, tmp_path: Path) -> None:
    sink = KafkaSink(_ssl(settings, tmp_path, tmp_path / "nope" / "ca.pem"))
    with pytest.raises(KafkaCredentialsError, match=r"Kafka CA file .*nope/ca.pem not found"):
        sink.start()
    sink.send(settings.topic_email_events, "example.com", b"{}")  # never raises into the host
    assert sink.close(2) == 1


def _doctor(settings: Settings) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, **settings.as_env()}
    return subprocess.run(
        [sys.executable, "-m", "failstream.cli", "doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_doctor_passes_over_mutual_tls_and_names_the_wrong_ca(
    settings: Settings, tmp_path: Path, other_ca: Path
) -> None:
    good = _doctor(_ssl(settings, tmp_path))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "certificate verified" in good.stdout
    bad = _doctor(_ssl(settings, tmp_path, other_ca).model_copy(update={"smtp_port": 1}))
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    tls = next(line for line in lines if line.split()[1] == "kafka-tls")
    assert tls.startswith("FAIL") and "not trusted" in tls and "FAILSTREAM_KAFKA_SSL_CAFILE" in tls
    smtp = next(line for line in lines if line.split()[1] == "smtp")
    assert smtp.startswith("FAIL") and "-> fix:" in smtp
    assert next(line for line in lines if line.split()[1] == "mongodb").startswith("ok")
