"""Private Kafka brokers and FerretDB servers for tests that stop them.

The shared services (``failstream infra up``) are never stopped by a test:
a test that takes a dependency away starts its own on free ports, with a
data directory under its ``tmp_path``, and stops or kills it at will.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

from pydantic import SecretStr

from failstream.infra import ferretdb, kafka
from failstream.infra.process import ManagedProcess, port_open
from failstream.settings import Settings
from tests.integration.services import free_port, wait_until


def _kill(process: ManagedProcess) -> None:
    pid = process.pid()
    if pid is not None:
        os.killpg(pid, signal.SIGKILL)
        wait_until(lambda: process.pid() is None, 30, f"{process.name} to die")
    process.pid_file.unlink(missing_ok=True)


class ThrowawayBroker:
    """A Kafka broker of its own; ``settings`` point every client at it."""

    def __init__(self, base: Settings, workdir: Path, *, partitions: int = 2) -> None:
        self.settings = base.model_copy(
            update={
                "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
                "infra_kafka_ssl_port": free_port(),
                "infra_kafka_controller_port": free_port(),
                "infra_kafka_heap": "384m",
                "kafka_partitions": partitions,
            }
        )
        self.process = ManagedProcess(f"kafka-test-{uuid.uuid4().hex[:8]}")
        self.data_dir = workdir / "kafka-data"
        self.conf = workdir / "server.properties"

    def start(self) -> None:
        kafka.up(self.settings, process=self.process, data_dir=self.data_dir, conf_path=self.conf)

    def stop(self) -> None:
        """SIGTERM: a controlled shutdown, as an operator's restart does."""
        self.process.stop(timeout_s=30)

    def kill(self) -> None:
        """SIGKILL: the broker vanishes mid-write."""
        _kill(self.process)


class ThrowawayFerretDB:
    """A FerretDB of its own on a free port; ``settings`` point every client at it."""

    def __init__(self, base: Settings, workdir: Path) -> None:
        self.port = free_port()
        self.settings = base.model_copy(update={"mongo_uri": SecretStr(f"mongodb://127.0.0.1:{self.port}/")})
        self.process = ManagedProcess(f"ferretdb-test-{uuid.uuid4().hex[:8]}")
        self.data_dir = workdir / "ferretdb-data"

    def start(self) -> None:
        ferretdb.up(self.settings, process=self.process, data_dir=self.data_dir)

    def stop(self) -> None:
        self.process.stop(timeout_s=30)
        wait_until(lambda: not port_open("127.0.0.1", self.port), 30, "FerretDB's port to close")

    def kill(self) -> None:
        _kill(self.process)
