"""``failstream doctor``: is this machine able to talk to Kafka, MongoDB and SMTP?

One line per check with what was found and, when it failed, how to fix it,
so a wrong certificate or a closed port is found before a service starts
losing sleep over it. Nothing secret is printed (no passwords, no URIs with
credentials).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from failstream.kafka_config import KafkaCredentialsError, confluent_config, ssl_context
from failstream.settings import Settings, cleartext_smtp_login_refusal

TIMEOUT_S = 5.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    hint: str = ""

    def line(self) -> str:
        status = "ok  " if self.ok else "FAIL"
        text = f"{status} {self.name:<13} {self.detail}"
        return text if self.ok or not self.hint else f"{text} -> fix: {self.hint}"


def _bootstrap(settings: Settings) -> list[tuple[str, int]]:
    servers = []
    for item in settings.kafka_bootstrap_servers.split(","):
        host, _, port = item.strip().rpartition(":")
        servers.append((host.strip("[]") or "127.0.0.1", int(port or 9092)))
    return servers


def check_kafka_credentials(settings: Settings) -> CheckResult:
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return CheckResult("kafka-creds", True, "PLAINTEXT: no certificates needed")
    try:
        confluent_config(settings)
    except KafkaCredentialsError as exc:
        return CheckResult(
            "kafka-creds", False, str(exc), "put Aiven's files in certificates/ or set the paths"
        )
    if protocol == "SASL_SSL" and not (
        settings.kafka_sasl_username and settings.kafka_sasl_password.get_secret_value()
    ):
        return CheckResult(
            "kafka-creds",
            False,
            "SASL_SSL without a username or password",
            "set FAILSTREAM_KAFKA_SASL_USERNAME and FAILSTREAM_KAFKA_SASL_PASSWORD",
        )
    return CheckResult("kafka-creds", True, f"{protocol}: CA {settings.kafka_ssl_cafile} loads")


def check_kafka_reachable(settings: Settings) -> CheckResult:
    for host, port in _bootstrap(settings):
        try:
            with socket.create_connection((host, port), timeout=TIMEOUT_S):
                pass
        except OSError as exc:
            return CheckResult(
                "kafka-port",
                False,
                f"cannot connect to {host}:{port}: {exc}",
                "start the broker (`failstream infra up` locally) or fix FAILSTREAM_KAFKA_BOOTSTRAP_SERVERS",
            )
    return CheckResult("kafka-port", True, f"{settings.kafka_bootstrap_servers} accepts connections")


def check_kafka_tls(settings: Settings) -> CheckResult:
    """A TLS handshake of our own: Python names a certificate problem better than librdkafka."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        return CheckResult("kafka-tls", True, "PLAINTEXT: no TLS")
    try:
        context = ssl_context(settings)
    except KafkaCredentialsError as exc:
        return CheckResult("kafka-tls", False, str(exc), "fix the certificate files")
    host, port = _bootstrap(settings)[0]
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_S) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                version = tls.version()
    except ssl.SSLCertVerificationError as exc:
        return CheckResult(
            "kafka-tls",
            False,
            f"broker certificate not trusted: {exc.verify_message}",
            f"use the CA that signed the broker's certificate (Aiven: ca.pem) as {settings.kafka_ssl_cafile} "
            "or set FAILSTREAM_KAFKA_SSL_CAFILE",
        )
    except ssl.SSLError as exc:
        return CheckResult(
            "kafka-tls",
            False,
            f"TLS handshake failed: {exc.reason or exc}",
            "check FAILSTREAM_KAFKA_SECURITY_PROTOCOL matches the port and the client certificate/key",
        )
    except OSError as exc:
        return CheckResult("kafka-tls", False, f"cannot connect to {host}:{port}: {exc}", "see kafka-port")
    return CheckResult("kafka-tls", True, f"{version} handshake with {host}:{port}, certificate verified")


def check_kafka_metadata(settings: Settings) -> CheckResult:
    """What the producer itself would see: metadata through librdkafka, credentials included."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    from failstream.producer.kafka_errors import explain

    errors: list[str] = []

    def on_error(error: KafkaError) -> None:
        errors.append(explain(error, settings)[1])

    admin: AdminClient | None = None
    try:
        config: dict[str, Any] = {**confluent_config(settings), "error_cb": on_error, "log_level": 0}
        admin = AdminClient(config)
        metadata = admin.list_topics(timeout=TIMEOUT_S + 3)
    except KafkaCredentialsError as exc:
        return CheckResult("kafka", False, str(exc), "see kafka-creds")
    except KafkaException as exc:
        if admin is not None:
            admin.poll(0)  # error_cb runs from poll: collect what librdkafka saw
        # librdkafka's own words, already explained with the setting to fix
        detail = next((e for e in errors if "TLS" in e or "authentication" in e), None)
        if detail is not None:
            return CheckResult("kafka", False, detail)
        detail = errors[0] if errors else str(exc)
        return CheckResult(
            "kafka", False, detail, "check FAILSTREAM_KAFKA_BOOTSTRAP_SERVERS and the protocol"
        )
    wanted = (settings.topic_failed_requests, settings.topic_email_events, settings.topic_alerts)
    missing = [t for t in wanted if t not in metadata.topics]
    brokers = len(metadata.brokers)
    if missing:
        return CheckResult(
            "kafka",
            False,
            f"{brokers} broker(s), topics missing: {', '.join(missing)}",
            "create them (`failstream infra up` creates the defaults) or fix the FAILSTREAM_TOPIC_* names",
        )
    return CheckResult("kafka", True, f"{brokers} broker(s), topics {', '.join(wanted)} present")


def check_mongo(settings: Settings) -> CheckResult:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client: MongoClient[dict[str, object]] | None = None
    try:
        client = MongoClient(
            settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=int(TIMEOUT_S * 1000)
        )
        client.admin.command("ping")
        hosts = ", ".join(f"{h}:{p}" for h, p in client.topology_description.server_descriptions())
    except PyMongoError as exc:
        detail = str(exc).split(" (configured timeouts", 1)[0].split(", Timeout:", 1)[0][:200]
        return CheckResult(
            "mongodb",
            False,
            f"no answer: {detail}",
            "start it (`failstream infra up` locally) or fix FAILSTREAM_MONGO_URI",
        )
    finally:
        if client is not None:
            client.close()
    return CheckResult("mongodb", True, f"ping answered by {hosts}, database {settings.mongo_db}")


def check_smtp(settings: Settings) -> CheckResult:
    """The relay as alerting sees it: same TLS mode, same CA file, same login (never in cleartext)."""
    host, port = settings.smtp_host, settings.smtp_port
    refusal = cleartext_smtp_login_refusal(settings)
    if refusal:
        return CheckResult("smtp", False, "login over cleartext refused", refusal)
    context = ssl.create_default_context()
    if settings.smtp_ca_file:
        try:
            context.load_verify_locations(cafile=settings.smtp_ca_file)
        except (OSError, ssl.SSLError) as exc:
            return CheckResult(
                "smtp",
                False,
                f"CA file {settings.smtp_ca_file} does not load: {exc}",
                "point FAILSTREAM_SMTP_CA_FILE at the PEM CA bundle that signed the relay's certificate",
            )
    try:
        smtp: smtplib.SMTP
        if settings.smtp_tls == "implicit":
            smtp = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_S, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=TIMEOUT_S)
        with smtp:
            smtp.ehlo()
            if settings.smtp_tls == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            smtp.noop()
    except smtplib.SMTPAuthenticationError:
        return CheckResult(
            "smtp", False, f"{host}:{port} refused the login", "fix FAILSTREAM_SMTP_USER/PASSWORD"
        )
    except ssl.SSLCertVerificationError as exc:
        return CheckResult(
            "smtp",
            False,
            f"{host}:{port} certificate not trusted: {exc.verify_message or exc}",
            "set FAILSTREAM_SMTP_CA_FILE to the CA that signed the relay's certificate",
        )
    except (ssl.SSLError, smtplib.SMTPNotSupportedError) as exc:
        return CheckResult(
            "smtp",
            False,
            f"{host}:{port} TLS ({settings.smtp_tls}) failed: {exc}",
            "check FAILSTREAM_SMTP_TLS (none, starttls or implicit) matches the port",
        )
    except (OSError, smtplib.SMTPException) as exc:
        return CheckResult(
            "smtp",
            False,
            f"{host}:{port} no answer: {exc}",
            "start the relay (`failstream infra up` starts a local sink) or fix FAILSTREAM_SMTP_HOST/PORT",
        )
    ca = f", CA {settings.smtp_ca_file}" if settings.smtp_ca_file and settings.smtp_tls != "none" else ""
    return CheckResult("smtp", True, f"{host}:{port} answered (tls={settings.smtp_tls}{ca})")


CHECKS: tuple[Callable[[Settings], CheckResult], ...] = (
    check_kafka_credentials,
    check_kafka_reachable,
    check_kafka_tls,
    check_kafka_metadata,
    check_mongo,
    check_smtp,
)


def run_checks(settings: Settings) -> Iterator[CheckResult]:
    for check in CHECKS:
        try:
            yield check(settings)
        except Exception as exc:  # a check must report, not crash the doctor
            yield CheckResult(check.__name__.removeprefix("check_"), False, f"check crashed: {exc!r}")
