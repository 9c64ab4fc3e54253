"""The Apache Kafka 3.9 broker, from Maven Central jars, on the JVM in KRaft mode."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

from failstream.infra.certs import ensure_local_tls
from failstream.infra.process import (
    DATA_DIR,
    INFRA_DIR,
    LOG_DIR,
    InfraError,
    ManagedProcess,
    port_open,
    run_step,
    say,
)
from failstream.settings import ROOT, Settings

POM = ROOT / "infra" / "kafka" / "pom.xml"
LOG4J = ROOT / "infra" / "kafka" / "log4j.properties"
LIBS = INFRA_DIR / "kafka" / "libs"
KAFKA = ManagedProcess("kafka")


def plaintext_address(settings: Settings) -> tuple[str, int]:
    first = settings.kafka_bootstrap_servers.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return host or "127.0.0.1", int(port or 9092)


def ensure_jars() -> None:
    if LIBS.is_dir() and any(LIBS.glob("kafka_2.13-*.jar")):
        return
    if shutil.which("mvn") is None:
        raise InfraError("Maven (mvn) is needed to fetch the Kafka broker jars: apt-get install maven")
    run_step(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={LIBS}",
            "-DincludeScope=runtime",
        ],
        what="fetching Apache Kafka 3.9 broker jars from Maven Central (first start only)",
        log=LOG_DIR / "maven.log",
    )


def _java(*args: str) -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise InfraError("a JDK 17 (java) is needed to run the Kafka broker")
    return [java, "-cp", f"{LIBS}/*", f"-Dlog4j.configuration=file:{LOG4J}", *args]


def write_config(settings: Settings, *, data_dir: Path | None = None, conf_path: Path | None = None) -> Path:
    """server.properties for the ports in ``settings``; other data/conf paths make a second broker."""
    host, port = plaintext_address(settings)
    tls = ensure_local_tls()
    ssl_port, ctrl_port = settings.infra_kafka_ssl_port, settings.infra_kafka_controller_port
    data = data_dir or DATA_DIR / "kafka"
    conf = conf_path or INFRA_DIR / "kafka" / "server.properties"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@{host}:{ctrl_port}",
                f"listeners=PLAINTEXT://{host}:{port},SSL://{host}:{ssl_port},CONTROLLER://{host}:{ctrl_port}",
                f"advertised.listeners=PLAINTEXT://{host}:{port},SSL://{host}:{ssl_port}",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={data}",
                f"num.partitions={settings.kafka_partitions}",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=8",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=true",
                "log.retention.hours=168",
                # SSL listener: mutual TLS, like Aiven's client-certificate auth
                "listener.name.ssl.ssl.client.auth=required",
                "ssl.keystore.type=PEM",
                f"ssl.keystore.location={tls.broker_keystore}",
                "ssl.truststore.type=PEM",
                f"ssl.truststore.location={tls.ca}",
                "ssl.endpoint.identification.algorithm=https",
                "",
            ]
        )
    )
    if not (data / "meta.properties").is_file():
        say("formatting KRaft storage")
        data.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            _java("kafka.tools.StorageTool", "format", "-t", str(uuid.uuid4().hex[:22]), "-c", str(conf)),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise InfraError(f"formatting Kafka storage failed: {result.stdout}{result.stderr}")
    return conf


#: how long a starting broker may take to serve metadata before `infra up` gives up
START_TIMEOUT_S = 240


def _metadata_ready(settings: Settings) -> bool:
    from confluent_kafka.admin import AdminClient

    host, port = plaintext_address(settings)
    if not port_open(host, port):
        return False
    try:
        admin = AdminClient({"bootstrap.servers": f"{host}:{port}", "log_level": 0})
        metadata = admin.list_topics(timeout=2)
        return bool(metadata.brokers)
    except Exception:
        return False


def up(
    settings: Settings,
    *,
    process: ManagedProcess = KAFKA,
    data_dir: Path | None = None,
    conf_path: Path | None = None,
) -> str:
    """Start the broker unless it answers; ``process``/``data_dir``/``conf_path`` run another one.

    Tests that must stop a broker start their own this way (other ports in
    ``settings``, a temporary data dir) and never touch the shared one.
    """
    host, port = plaintext_address(settings)
    if process.pid() is None and port_open(host, port):
        return f"kafka already answering on {host}:{port} (not started by failstream)"
    if process.pid() is None:
        ensure_jars()
        conf = write_config(settings, data_dir=data_dir, conf_path=conf_path)
        say(f"starting Kafka broker on {host}:{port} (SSL {settings.infra_kafka_ssl_port})")
        process.start(
            _java(
                f"-Xmx{settings.infra_kafka_heap}",
                f"-Xms{settings.infra_kafka_heap}",
                "-XX:+UseG1GC",
                "kafka.Kafka",
                str(conf),
            )
        )
    # a JVM on two busy cores can take over a minute and a half to serve metadata; a slow
    # start is still a start, and wait_ready fails at once if the broker exits instead
    process.wait_ready(lambda: _metadata_ready(settings), timeout_s=START_TIMEOUT_S)
    return f"kafka up on {host}:{port}, SSL on {host}:{settings.infra_kafka_ssl_port} (pid {process.pid()})"
