"""Kafka connection settings, turned into what each client library wants.

confluent-kafka (producer, admin), aiokafka (bare consumers) and Faust all
connect with the same settings: PLAINTEXT, SSL with Aiven's ``ca.pem`` /
``service.cert`` / ``service.key``, or SASL_SSL. Keeping the translation in
one module means a certificate fix is made once, and TLS verification can't
be switched off by accident in one client and not the others.
"""

from __future__ import annotations

import ssl
from typing import Any

from failstream.settings import KafkaSettings


class KafkaCredentialsError(RuntimeError):
    """TLS or SASL material is missing or unusable; the message says which."""


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    """A verifying TLS context from the configured CA and client certificate."""
    cafile = settings.kafka_ssl_cafile
    if not cafile.is_file():
        raise KafkaCredentialsError(
            f"Kafka CA file {cafile} not found: download ca.pem from Aiven (or run "
            "`failstream infra up` locally) or set FAILSTREAM_KAFKA_SSL_CAFILE"
        )
    try:
        context = ssl.create_default_context(cafile=str(cafile))
    except ssl.SSLError as exc:
        raise KafkaCredentialsError(f"Kafka CA file {cafile} is not a PEM CA: {exc}") from exc
    if settings.kafka_security_protocol == "SSL":
        cert, key = settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile
        for path, var in ((cert, "CERTFILE"), (key, "KEYFILE")):
            if not path.is_file():
                raise KafkaCredentialsError(
                    f"Kafka client {path.name} not found at {path}: set FAILSTREAM_KAFKA_SSL_{var}"
                )
        try:
            context.load_cert_chain(str(cert), str(key))
        except ssl.SSLError as exc:
            raise KafkaCredentialsError(
                f"Kafka client certificate {cert} does not match key {key}: {exc}"
            ) from exc
    return context


def confluent_config(settings: KafkaSettings) -> dict[str, Any]:
    """librdkafka properties for a confluent-kafka client."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "security.protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        ssl_context(settings)  # fail early with one clear message
        config["ssl.ca.location"] = str(settings.kafka_ssl_cafile)
        config["enable.ssl.certificate.verification"] = True
        config["ssl.endpoint.identification.algorithm"] = "https"
    if settings.kafka_security_protocol == "SSL":
        config["ssl.certificate.location"] = str(settings.kafka_ssl_certfile)
        config["ssl.key.location"] = str(settings.kafka_ssl_keyfile)
    if settings.kafka_security_protocol == "SASL_SSL":
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = settings.kafka_sasl_username
        config["sasl.password"] = settings.kafka_sasl_password.get_secret_value()
    return config


def aiokafka_config(settings: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for an aiokafka consumer or producer."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        config["ssl_context"] = ssl_context(settings)
    if settings.kafka_security_protocol == "SASL_SSL":
        config["sasl_mechanism"] = settings.kafka_sasl_mechanism
        config["sasl_plain_username"] = settings.kafka_sasl_username
        config["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return config


def faust_broker_options(settings: KafkaSettings) -> dict[str, Any]:
    """``broker`` and ``broker_credentials`` for ``faust.App``."""
    servers = ",".join(f"kafka://{s.strip()}" for s in settings.kafka_bootstrap_servers.split(","))
    options: dict[str, Any] = {"broker": servers}
    if settings.kafka_security_protocol == "PLAINTEXT":
        return options
    import faust  # local: the producer never needs Faust

    context = ssl_context(settings)
    if settings.kafka_security_protocol == "SSL":
        options["broker_credentials"] = faust.SSLCredentials(context)
    else:
        options["broker_credentials"] = faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password.get_secret_value(),
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    return options


def ensure_topics(settings: KafkaSettings, timeout_s: float = 30.0) -> None:
    """Create the contract's topics if they don't exist (idempotent)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(confluent_config(settings))
    wanted = {
        settings.topic_failed_requests: settings.kafka_partitions,
        settings.topic_email_events: settings.kafka_partitions,
        settings.topic_alerts: settings.kafka_partitions,
        settings.topic_live_counts: 1,
        settings.topic_dead_letters: settings.kafka_partitions,
        settings.topic_decisions: settings.kafka_partitions,
    }
    # each subject's latest decision is all an enforcer needs: compaction keeps just that
    configs = {settings.topic_decisions: {"cleanup.policy": "compact"}}
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    new = [
        NewTopic(
            name,
            num_partitions=parts,
            replication_factor=settings.kafka_replication_factor,
            config=configs.get(name, {}),
        )
        for name, parts in wanted.items()
        if name not in existing
    ]
    if not new:
        return
    for name, future in admin.create_topics(new, operation_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise RuntimeError(f"could not create topic {name}: {exc}") from exc
