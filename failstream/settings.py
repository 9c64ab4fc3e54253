"""The settings each Failstream process reads once at start-up, one class per process.

Every field is an environment variable with the ``FAILSTREAM_`` prefix (for
example ``FAILSTREAM_MONGO_URI``) or a line in an optional ``.env`` file. The
shared pieces (Kafka, MongoDB, SMTP, logging, the rules) are models of their
own; each process's class is built from the ones it needs plus its own
fields, so ``CaptureSettings`` in a host holds no database or SMTP secret.
Fields stay flat, so every ``FAILSTREAM_*`` name is the field's name. The
objects are frozen and passed down explicitly: nothing else reads the
environment, so a test builds ``Settings(...)`` and knows exactly what runs.
"""

from __future__ import annotations

import ipaddress
import json
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from failstream.paths import default_spool_dir
from failstream.sampling import parse_sample_rates

#: Project root (where ``certificates/`` and ``.infra/`` live for local runs).
ROOT = Path(__file__).resolve().parent.parent

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SmtpTls = Literal["none", "starttls", "implicit"]
ForwardedHeader = Literal["x-forwarded-for", "forwarded", "x-real-ip"]


#: The API keys every checkout knows; the API accepts them on a loopback address only
#: (``api.key_policy``), so an API reachable from elsewhere never opens with them.
DEV_READ_KEY = "dev-read-key"
DEV_ADMIN_KEY = "dev-admin-key"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _valid_networks(value: tuple[str, ...]) -> tuple[str, ...]:
    for item in value:
        ipaddress.ip_network(item, strict=False)  # raises a clear ValueError
    return value


#: "a,b,c" in the environment, a tuple in code
CsvList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_csv)]
CsvSecrets = Annotated[tuple[SecretStr, ...], NoDecode, BeforeValidator(_split_csv)]
#: comma-separated IPs or networks (CIDR), each checked at start-up
Networks = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_csv), AfterValidator(_valid_networks)]


ReportPeriod = Literal["hour", "day", "week"]
_SCHEDULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_AT = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


class ReportSchedule(BaseModel):
    """One scheduled summary report: when (``cron`` or ``at`` + ``tz``), what period, to whom.

    ``at`` "HH:MM" means every day at that wall-clock time in ``tz``; any other
    cadence is a five-field ``cron`` expression (also read in ``tz``). The
    report covers the ``period`` that ends at the due time. Empty
    ``recipients`` means ``oncall_recipients``; empty ``tz`` means
    ``report_timezone``. Checked here so a typo stops start-up with the
    schedule's name in the message instead of silently never sending.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    period: ReportPeriod
    cron: str = ""
    at: str = ""
    tz: str = ""
    recipients: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> ReportSchedule:
        from croniter import croniter  # loaded only by processes that have schedules

        where = f"report schedule {self.name!r}"
        if not _SCHEDULE_NAME.fullmatch(self.name):
            raise ValueError(f"{where}: the name may hold letters, digits, '_', '.', '-' only")
        if bool(self.cron) == bool(self.at):
            raise ValueError(f"{where}: give exactly one of 'cron' or 'at'")
        if self.cron and (len(self.cron.split()) != 5 or not croniter.is_valid(self.cron)):
            raise ValueError(f"{where}: 'cron' {self.cron!r} is not a 5-field cron expression")
        if self.cron:
            try:  # valid syntax can still name no real time ("0 0 30 2 *": 30 February)
                croniter(self.cron).get_next()
            except Exception as exc:
                raise ValueError(f"{where}: 'cron' {self.cron!r} never fires") from exc
        if self.at and not _AT.fullmatch(self.at):
            raise ValueError(f"{where}: 'at' {self.at!r} is not HH:MM (24-hour)")
        if self.tz:
            try:
                ZoneInfo(self.tz)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"{where}: unknown time zone {self.tz!r}") from exc
        for address in self.recipients:
            if "@" not in address:
                raise ValueError(f"{where}: recipient {address!r} is not an email address")
        return self


ReceiverKind = Literal["webhook", "slack", "alertmanager"]
Severity = Literal["info", "warning", "critical"]
_LOOPBACK_HOSTS = frozenset({"localhost", "localhost."})


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ReceiverConfig(BaseModel):
    """One receiver besides email: a signed webhook, a Slack incoming webhook or an Alertmanager.

    ``rules`` and ``severities`` route alerts to it (empty: every rule, every
    severity); a resolved notice goes to a receiver that was sent its episode's
    firing, when ``send_resolved``. ``url`` is a secret too (a Slack hook's
    URL is its credential); both are masked in ``repr`` and logs. Plain http
    is refused unless the host is loopback, so a signed body or a hook URL
    never crosses a network in cleartext; certificates are always verified.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: ReceiverKind
    url: SecretStr
    # webhook: the HMAC key (required); alertmanager: a bearer token, if it needs one
    secret: SecretStr = SecretStr("")
    rules: tuple[str, ...] = ()
    severities: tuple[Severity, ...] = ()
    send_resolved: bool = True

    @model_validator(mode="after")
    def _check(self) -> ReceiverConfig:
        from urllib.parse import urlsplit

        where = f"receiver {self.name!r}"
        if not _SCHEDULE_NAME.fullmatch(self.name):
            raise ValueError(f"{where}: the name may hold letters, digits, '_', '.', '-' only")
        parts = urlsplit(self.url.get_secret_value())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"{where}: 'url' must be an absolute https URL")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ValueError(f"{where}: 'url' must be https (plain http only to a loopback host)")
        if self.kind == "webhook" and not self.secret.get_secret_value():
            raise ValueError(f"{where}: a webhook needs a 'secret' to sign its bodies")
        return self

    @field_serializer("url", "secret", when_used="json")
    def _reveal_for_child_processes(self, value: SecretStr) -> str:
        # Settings.as_env hands receivers to child processes as JSON (failstream demo):
        # masked there, a child would sign with "**********". repr and str stay masked.
        return value.get_secret_value()


class _UnreadableReceivers:
    """Stands in for a FAILSTREAM_RECEIVERS that is not JSON, so the error names why, not the text."""

    def __init__(self, why: str) -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"<FAILSTREAM_RECEIVERS is not a JSON list: {self.why}>"


def _receivers_masked(value: object) -> object:
    """The receivers' JSON, parsed, with each ``url`` and ``secret`` already a SecretStr.

    Pydantic's error messages quote the input (``failstream: invalid settings:``
    prints them): a receiver that fails validation must show its secrets masked,
    and a text that is not JSON is not quoted at all.
    """
    if isinstance(value, str):
        if not value.strip():
            return ()
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            return _UnreadableReceivers(str(exc))
    if not isinstance(value, list | tuple):
        return value
    return [
        {k: SecretStr(v) if k in ("url", "secret") and isinstance(v, str) else v for k, v in item.items()}
        if isinstance(item, dict)
        else item
        for item in value
    ]


Named = ReceiverConfig | ReportSchedule


def _names_unique(what: str) -> AfterValidator:
    """Each item's ``name`` is unique: a name is how logs, alerts and the API tell them apart."""

    def check(
        value: tuple[ReceiverConfig | ReportSchedule, ...],
    ) -> tuple[ReceiverConfig | ReportSchedule, ...]:
        names = [item.name for item in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"{what} names must be unique: {', '.join(duplicates)}")
        return value

    return AfterValidator(check)


class EnvironmentSettings(BaseSettings):
    """Read once from ``FAILSTREAM_*`` variables (or ``.env``); frozen; other variables ignored."""

    model_config = SettingsConfigDict(
        env_prefix="FAILSTREAM_",
        env_file=".env",
        extra="ignore",
        frozen=True,
    )

    def as_env(self) -> dict[str, str]:
        """These settings as ``FAILSTREAM_*`` variables, to hand to a child process."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, tuple) and any(isinstance(v, BaseModel) for v in value):
                text = json.dumps([v.model_dump(mode="json") for v in value])
            elif isinstance(value, dict):
                text = json.dumps(value)
            elif isinstance(value, tuple):
                text = ",".join(v.get_secret_value() if isinstance(v, SecretStr) else str(v) for v in value)
            elif isinstance(value, SecretStr):
                text = value.get_secret_value()
            elif isinstance(value, bool):
                text = "true" if value else "false"
            else:
                text = str(value)
            env[f"FAILSTREAM_{name.upper()}"] = text
        return env


# --- shared models: each is read by more than one process --------------------


class KafkaSettings(EnvironmentSettings):
    """The brokers and the topics: every process, the capture in a host included."""

    kafka_bootstrap_servers: str = "127.0.0.1:9092"  # host:port of the Kafka brokers, comma-separated
    # PLAINTEXT locally; SSL (Aiven's client certificate) or SASL_SSL
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    # CA that signed the brokers' certificates (TLS verification is always on)
    kafka_ssl_cafile: Path = ROOT / "certificates" / "ca.pem"
    # client certificate for SSL (Aiven's service.cert)
    kafka_ssl_certfile: Path = ROOT / "certificates" / "service.cert"
    kafka_ssl_keyfile: Path = ROOT / "certificates" / "service.key"  # its private key (Aiven's service.key)
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-256"  # SASL_SSL only
    kafka_sasl_username: str = ""  # SASL_SSL only
    kafka_sasl_password: SecretStr = SecretStr("")  # SASL_SSL only
    # partitions of the topics the pipeline creates: the most workers that share the load
    kafka_partitions: int = Field(default=4, ge=1)
    # replicas of every topic created, the worker's changelogs included
    kafka_replication_factor: int = Field(default=1, ge=1)

    topic_failed_requests: str = "failed-requests"  # failed requests, keyed by client IP
    topic_email_events: str = "email-events"  # email delivery events, keyed by recipient domain
    topic_alerts: str = "alerts"  # detections, keyed by subject
    topic_live_counts: str = "live-counts"  # per-second counts for the live view
    topic_dead_letters: str = "dead-letters"  # events that could not be read, with why
    # decisions (compacted), keyed by the IP or prefix; a tombstone when one ends
    topic_decisions: str = "decisions"


class MongoSettings(EnvironmentSettings):
    """The database: the stream worker's persister, alerting and the API."""

    mongo_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27017/")  # MongoDB (or FerretDB) connection string
    mongo_db: str = "failstream"  # database name


class SmtpSettings(EnvironmentSettings):
    """The relay alert emails and reports leave through: alerting (``failstream doctor`` checks it too)."""

    smtp_host: str = "127.0.0.1"  # the SMTP relay
    smtp_port: int = 1025  # its port
    smtp_tls: SmtpTls = "none"  # starttls, tls (implicit) or none (loopback only)
    smtp_user: str = ""  # login, if the relay wants one
    smtp_password: SecretStr = SecretStr("")  # its password
    # a login (smtp_user) over smtp_tls=none sends the password in cleartext: refused at
    # start-up unless this says the path is trusted (a relay on loopback or a private link)
    smtp_allow_cleartext_login: bool = False
    smtp_timeout_s: float = Field(default=10.0, gt=0)  # per SMTP step (connect, each command)
    smtp_from: str = "failstream@localhost"  # From: of alert emails
    # extra CA bundle (PEM) for a private relay; certificate verification stays on either way
    smtp_ca_file: str = ""
    smtp_retry_base_s: float = Field(default=1.0, gt=0)  # first backoff between send attempts
    smtp_retry_max_s: float = Field(default=30.0, gt=0)  # longest backoff between send attempts

    @model_validator(mode="after")
    def _no_cleartext_smtp_login(self) -> Self:
        refusal = cleartext_smtp_login_refusal(self)
        if refusal:
            raise ValueError(refusal)
        return self


class LogSettings(EnvironmentSettings):
    """How a server process logs (see failstream.logs); a host's logging stays the host's."""

    # a logging level name: DEBUG, INFO, WARNING, ERROR, CRITICAL
    log_level: str = "INFO"
    # text: "time level logger message" lines; json: one JSON object per line
    log_format: Literal["text", "json"] = "text"

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        name = value.strip().upper()
        if name not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"unknown log level {value!r} (DEBUG, INFO, WARNING, ERROR or CRITICAL)")
        return name


class AlertPolicySettings(EnvironmentSettings):
    """What the worker and alerting both apply to every alert: who is never alerted on, when again."""

    # a subject still firing is alerted again after this long
    repeat_interval_s: int = Field(default=3600, ge=1)
    allowlist: Networks = ()  # IPs or networks never alerted on

    @cached_property
    def allowlist_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(item, strict=False) for item in self.allowlist)


class MetricsSettings(EnvironmentSettings):
    """Where the consumer processes serve /metrics and /readyz.

    Each process serves /metrics on a port of its own, so Prometheus sees every
    process (the stream worker's persister child included) with no shared state;
    the API and the demo service serve /metrics on their HTTP port. 0 = not
    served. A port already taken (a second worker on one host) is logged and
    skipped.
    """

    metrics_host: str = "127.0.0.1"  # address of every process's /metrics and /readyz port
    # how often each consumer process reads its group's lag from Kafka
    metrics_lag_interval_s: float = Field(default=5.0, gt=0)


class ReportSettings(EnvironmentSettings):
    """Report schedules and day boundaries: alerting sends reports; the API lists them and cuts days alike."""

    report_timezone: str = "UTC"  # time zone of report schedules and of day boundaries in the API
    oncall_recipients: CsvList = ("oncall@localhost",)  # who gets alert emails (comma-separated)
    # scheduled summary reports, a JSON list of ReportSchedule, e.g.
    # [{"name":"daily","at":"08:00","tz":"Europe/Berlin","period":"day","recipients":["oncall@example.com"]}]
    report_schedules: Annotated[tuple[ReportSchedule, ...], _names_unique("report schedule"), NoDecode] = ()

    @field_validator("report_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)") from exc
        return value

    @field_validator("report_schedules", mode="before")
    @classmethod
    def _report_schedules_json(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return ()
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"FAILSTREAM_REPORT_SCHEDULES is not a JSON list: {exc}") from exc
        return value


# --- one class per process ------------------------------------------------------


class CaptureSettings(KafkaSettings):
    """The capture middleware in a host service: Kafka and its own knobs, no server secrets."""

    service_name: str = "demo"  # the host service's name, in every event it captures
    # addresses or networks (CIDR) of the proxies whose forwarding header is believed
    trusted_proxies: Networks = ()
    #: the one header the trusted proxies set; any other forwarding header is ignored
    forwarded_header: ForwardedHeader = "x-forwarded-for"
    capture_all_4xx: bool = False  # capture every 4xx, not only the default statuses
    #: statuses that count as failures, e.g. "401,403,429,5xx"; empty = 401, 403, 429, 5xx
    #: (plus every 4xx with capture_all_4xx)
    capture_statuses: CsvList = ()
    # paths never captured (probes, metrics)
    capture_skip_paths: CsvList = ("/healthz", "/readyz", "/metrics")
    #: share of captured failures sent, per status: e.g. "5xx=0.1,auth=1,429=0.25"; keys are a status,
    #: a class (4xx, 5xx) or auth (401 and 403), the most specific wins; unnamed statuses are all sent.
    #: Sampled-out failures are counted (failstream_producer_discarded_events{cause="sampled_out"}), not
    #: sent: detection counts only what is sent, so sample statuses its rules do not count on
    capture_sample_rates: CsvList = ()
    #: default: the user's cache directory ($XDG_CACHE_HOME/failstream/spool, ~/.cache/failstream/spool),
    #: never a path inside the installed package
    producer_spool_dir: Path = Field(default_factory=default_spool_dir)
    # on-disk spool budget while Kafka is away; the oldest events go first
    producer_spool_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    producer_queue_max_messages: int = Field(default=200_000, ge=1)  # librdkafka's in-memory queue
    # how long librdkafka tries an event before it goes to the spool
    producer_message_timeout_ms: int = Field(default=30_000, ge=1)
    # events feed minute-scale detection: 50 ms of batching costs nothing there and
    # saves the host and the broker a request per handful of events
    producer_linger_ms: int = Field(default=50, ge=0)
    # refuse clients with an active decision before the app runs (the middleware follows the
    # decisions topic; fails open while it has not read it or cannot reach it)
    enforce: bool = False
    # the status a refused request gets, with Retry-After (recorded with reason "blocked")
    enforce_status: int = Field(default=429, ge=400, le=599)
    # enforcement stops (fails open) once the decisions topic has been unreachable this long
    enforce_stale_after_s: float = Field(default=30.0, gt=0)

    @field_validator("forwarded_header", mode="before")
    @classmethod
    def _header_name(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("capture_sample_rates")
    @classmethod
    def _valid_sample_rates(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        parse_sample_rates(value)  # raises a clear ValueError naming the bad entry
        return value

    @cached_property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(item, strict=False) for item in self.trusted_proxies)


class StreamSettings(KafkaSettings, MongoSettings, AlertPolicySettings, MetricsSettings, LogSettings):
    """``failstream stream``: the worker and its persister child."""

    failures_retention_days: int = Field(default=30, ge=1)  # raw failures kept this long
    # the per-minute counters behind /stats: kept a day longer than the API's longest
    # window (90d), so a 90-day summary is whole
    minute_counts_retention_days: int = Field(default=91, ge=1)
    # per-IP totals of IPs not seen for this long (by last_seen): an attacker rotating
    # addresses must not grow ip_stats without bound
    ip_stats_retention_days: int = Field(default=30, ge=1)
    # dead letters (by ts), re-driven or not: re-drive them within this time
    dead_letters_retention_days: int = Field(default=30, ge=1)
    # the worker's consumer group and the prefix of its changelog topics
    stream_app_id: str = "failstream-stream"
    # Faust's data directory (tables are in memory; it keeps its worker files here)
    stream_data_dir: Path = ROOT / ".infra" / "data" / "stream"
    # /metrics and /readyz of the stream worker
    metrics_stream_port: int = Field(default=9201, ge=0, le=65535)
    metrics_persister_port: int = Field(default=9202, ge=0, le=65535)  # /metrics and /readyz of its persister

    # --- detection rules -----------------------------------------------------
    rule_ip_threshold: int = Field(default=5, ge=1)  # ip-failures: this many failures from one IP ...
    rule_ip_window_s: int = Field(default=600, ge=1)  # ... within this sliding window fire an alert
    # ip-route: this many failures from one IP on one route ...
    rule_ip_route_threshold: int = Field(default=20, ge=1)
    rule_ip_route_window_s: int = Field(default=600, ge=1)  # ... within this window
    # global-spike: this many failures in one minute, all IPs together
    rule_spike_per_minute: int = Field(default=1000, ge=1)
    # email-domain: share of failed deliveries to one domain ...
    rule_email_failure_ratio: float = Field(default=0.5, gt=0, le=1)
    # ... once at least this many deliveries were attempted ...
    rule_email_min_volume: int = Field(default=20, ge=1)
    rule_email_window_s: int = Field(default=600, ge=1)  # ... within this window
    # prefix-failures: this many failures from the addresses of one network prefix ...
    rule_prefix_threshold: int = Field(default=10, ge=1)
    rule_prefix_window_s: int = Field(default=600, ge=1)  # ... within this sliding window fire an alert
    # the IPv6 prefix length addresses are counted under (0: no IPv6 prefix counts);
    # an attacker rotating addresses inside one /64 still alerts, as the /64
    rule_prefix_ipv6_length: int = Field(default=64, ge=0, le=128)
    # the IPv4 prefix length addresses are counted under, e.g. 24 (0: off, the default;
    # a /24 often holds many unrelated clients)
    rule_prefix_ipv4_length: int = Field(default=0, ge=0, le=32)
    grace_s: int = Field(default=60, ge=0)  # quiet this long past its window before an episode resolves

    # --- the worker ----------------------------------------------------------
    # stream worker: batches, and how often quiet episodes resolve / old failures go
    # 4,000: a fetch and a batch of 1,000 left the worker waiting on its fetcher (~16k vs ~22k events/s)
    stream_batch_max: int = Field(default=4000, ge=1)
    stream_batch_within_s: float = Field(default=0.05, gt=0)  # longest wait to fill a batch
    # how often changed detection states reach the table and its changelog (their
    # messages are acked, so committable, only then): longer writes fewer changelog
    # records for busy IPs; a rebalance flushes at once
    stream_state_flush_s: float = Field(default=3.0, gt=0, le=30)
    stream_sweep_interval_s: float = Field(default=30.0, gt=0)  # how often quiet episodes are resolved
    # how often old MongoDB documents are removed
    stream_retention_sweep_s: float = Field(default=3600.0, gt=0)
    # how soon a killed worker's partitions move to the others (Kafka's floor is 6 s)
    stream_session_timeout_s: float = Field(default=30.0, ge=6)
    # how long a Kafka write of the worker (changelog, alert, dead letter, live count) may go
    # unacknowledged before it fails and is sent again (Faust's default is 20 minutes, all that
    # time with detection waiting on it); duplicates are harmless, see stream_app.kafka_writes
    stream_kafka_write_timeout_s: float = Field(default=30.0, ge=5, le=600)
    # Kafka static membership: a worker restarted with the same id (and its persister,
    # "<id>-persist") gets its partitions back at once instead of after the session
    # timeout. Unique per running worker (a pod or host name); empty: dynamic membership.
    stream_instance_id: str = Field(default="", max_length=200, pattern=r"^[A-Za-z0-9._:-]*$")
    # how long the worker's producer gathers changelog records and alerts into one
    # request: at 0 a batch of 1,000 table writes becomes hundreds of requests (10 ms
    # took the worker from ~3,000 to ~5,500 events/s). Alerts are still acknowledged
    # before the detection state that caused them is stored.
    stream_producer_linger_ms: int = Field(default=10, ge=0, le=1000)
    # skip MongoDB writes (benchmarks only: detection and tables without persistence)
    stream_persist: bool = True
    # events per MongoDB write batch of the persister: a batch costs one update per
    # IP and minute it touches, whatever its size, and FerretDB applies updates one
    # at a time, so a persister that fell behind catches up faster with big batches
    # (20,000 events over 100 IPs: ~3,800 events/s at 4,000, ~5,700 at 16,000)
    stream_persist_batch_max: int = Field(default=16000, ge=1)


class AlertingSettings(
    KafkaSettings,
    MongoSettings,
    SmtpSettings,
    AlertPolicySettings,
    MetricsSettings,
    ReportSettings,
    LogSettings,
):
    """``failstream alerting``: emails, receivers, decisions and scheduled reports."""

    metrics_alerting_port: int = Field(default=9203, ge=0, le=65535)  # /metrics and /readyz of alerting
    # alerts for the same recipients within this long go in one email
    group_wait_s: float = Field(default=10.0, ge=0)
    send_attempts: int = Field(default=3, ge=1)  # tries per email before it is dead-lettered
    rate_limit_per_subject: str = "1/15minutes"  # at most this many alerts per subject (limits syntax)
    rate_limit_global: str = "30/hour"  # at most this many alert emails in all
    rate_limit_storage_uri: str = "memory://"  # memory:// for one process; redis:// to share the budget
    # how long a claim on an alert holds before another process may take it over
    fence_lease_s: float = Field(default=60.0, gt=0)
    dashboard_url: str = "http://127.0.0.1:8000/"  # base URL of the dashboard, for links in emails
    # "" -> "failstream-alerting-<topic_alerts>": isolated topics get isolated consumer groups
    alerting_group_id: str = ""
    # rules whose episode end is emailed ("*" = every rule, empty = none)
    notify_resolved_rules: CsvList = ("*",)
    # recipients per alert severity; empty -> oncall_recipients
    recipients_critical: CsvList = ()
    recipients_warning: CsvList = ()  # recipients of warning alerts (default: the on-call list)
    recipients_info: CsvList = ()  # recipients of info alerts (default: the on-call list)
    # TEST HOOK ONLY: sleep this long between claiming an alert and sending it, so an
    # integration test can SIGKILL the process inside that window. Keep 0 in production.
    alerting_test_pause_after_claim_s: float = Field(default=0.0, ge=0)
    # alerts of different subjects handled at once (one subject's alerts stay in order)
    alerting_concurrency: int = Field(default=8, ge=1)
    # an alerting process silent this long (no relay heartbeat) is taken for dead, and
    # another one publishes the email events it had written to MongoDB but not to Kafka
    alerting_email_events_orphan_s: float = Field(default=30.0, gt=0, le=3600)
    # a period's report is read and sent this long after the period ends, so its last
    # events are in MongoDB (producer linger, out-of-order grace, the persister's lag)
    report_settle_s: float = Field(default=90.0, ge=0)
    # a report sent this long after its due time (process was down) is marked late
    report_late_after_s: float = Field(default=120.0, ge=0)
    # missed periods sent after a restart, per schedule (older ones are logged, not sent)
    report_catchup_periods: int = Field(default=24, ge=0)
    # rows in a report's top IPs / top routes tables
    report_top_n: int = Field(default=10, ge=1, le=100)
    # TEST HOOK ONLY: when non-zero the report scheduler's clock starts at this time (ms)
    # and runs at real speed, so a test can let two real processes pass a due time. Keep 0.
    alerting_test_clock_start_ms: int = Field(default=0, ge=0)

    # receivers besides email, a JSON list of ReceiverConfig (empty: email only), e.g.
    # [{"name":"ops-hook","kind":"webhook","url":"https://hooks.example.com/x","secret":"...",
    #   "rules":["ip-failures"],"severities":["critical"]}]
    receivers: Annotated[tuple[ReceiverConfig, ...], _names_unique("receiver"), NoDecode] = ()
    # one HTTP attempt of a receiver (connect, write, read, each); the whole attempt is
    # cut at half as long again, and the receivers' fence lease is sized on it
    receiver_timeout_s: float = Field(default=10.0, gt=0, le=120)

    # --- decisions (alerting makes them; the API serves them) ---------------
    # rules whose firing alerts refuse their IP or prefix for a while (empty: no decisions)
    decision_rules: CsvList = ("ip-failures", "ip-route-failures", "prefix-failures")
    # how long a decision lasts per rule in seconds, a JSON object, e.g. {"ip-failures": 3600};
    # a rule not named lasts its window (rule_*_window_s)
    decision_durations_s: Annotated[dict[str, Annotated[int, Field(ge=1)]], NoDecode] = {}
    # how often decisions whose time is up are removed (and published as removed)
    decision_sweep_s: float = Field(default=5.0, gt=0, le=300)

    @field_validator("decision_durations_s", mode="before")
    @classmethod
    def _decision_durations_json(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return {}
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"FAILSTREAM_DECISION_DURATIONS_S is not a JSON object: {exc}") from exc
        return value

    @field_validator("receivers", mode="before")
    @classmethod
    def _receivers_json(cls, value: object) -> object:
        return _receivers_masked(value)


class ApiSettings(KafkaSettings, MongoSettings, ReportSettings, LogSettings):
    """``failstream api``: the REST API, the live feed and the dashboard."""

    api_host: str = "127.0.0.1"  # address the API listens on; off loopback it needs real keys
    api_port: int = 8000  # its port
    # unset: the development keys, which the API accepts on a loopback api_host only
    api_read_keys: CsvSecrets = (SecretStr(DEV_READ_KEY),)
    # keys that may also change silences and decisions
    api_admin_keys: CsvSecrets = (SecretStr(DEV_ADMIN_KEY),)
    # the longest a silence may last: a silence is a decision on-call revisits, not a
    # way to switch a rule off for good (a longer or past until is a 422)
    silence_max_days: int = Field(default=30, ge=1, le=3650)
    api_metrics_enabled: bool = True  # serve /metrics on the API port
    # how long a summary / time series computed for one window is served to every
    # caller before it is recomputed in the background (0 = compute per request)
    api_stats_cache_s: float = Field(default=2.0, ge=0)
    # the most items one page of a list endpoint returns (a bigger ?limit= is a 422)
    api_max_page_limit: int = Field(default=500, ge=1)
    # how long a request waits for MongoDB before answering 503 (and /readyz not ready)
    api_mongo_timeout_ms: int = Field(default=3000, ge=100)
    # live feed (WS /api/v1/live, SSE /api/v1/live/stream): a second is pushed this long
    # after it ends, so that every stream worker's record for it has arrived
    api_live_delay_s: float = Field(default=1.0, ge=0, le=30)
    # recent seconds kept in memory, replayed to a client that reconnects (?since=, Last-Event-ID)
    api_live_replay_s: int = Field(default=300, ge=1, le=86400)
    # seconds waiting for one client; a client this far behind is dropped as too slow
    api_live_client_queue: int = Field(default=30, ge=1)
    # one send to one client that takes longer drops that client (never delays the others)
    api_live_send_timeout_s: float = Field(default=5.0, gt=0)


class Settings(CaptureSettings, StreamSettings, AlertingSettings, ApiSettings):
    """Every setting of every process.

    A process reads its own class (``StreamSettings()``, ``CaptureSettings()``,
    ...) and code takes the narrowest class it needs, so the type checker shows
    which settings each process reads; each of them accepts a ``Settings``.
    The local tools (``failstream infra``, ``demo``, ``demo-app``) read this
    whole class: they start and configure every other process, and tests build
    it to hand down.
    """

    # --- the demo service ---------------------------------------------------
    demo_host: str = "127.0.0.1"  # the demo service (failstream demo-app)
    demo_port: int = 8001  # its port
    # bearer tokens the demo service accepts
    demo_tokens: CsvSecrets = (SecretStr("demo-valid-token"),)

    # --- local infrastructure (failstream infra) --------------------------
    infra_kafka_ssl_port: int = 9093  # local broker's TLS listener
    infra_kafka_controller_port: int = 9094  # local broker's KRaft controller
    infra_kafka_heap: str = "1g"  # local broker's JVM heap
    infra_prometheus_port: int = 9090  # local Prometheus (failstream infra up --prometheus)
    # local FerretDB's backend: a private PostgreSQL cluster, or SQLite files (the fallback)
    infra_ferretdb_backend: Literal["postgresql", "sqlite"] = "postgresql"
    # the private PostgreSQL cluster's loopback port (not 5432: a system cluster may hold it)
    infra_postgres_port: int = Field(default=5434, ge=1, le=65535)
    # FerretDB's connections to PostgreSQL; an update holds one per matched statement until
    # it ends, so this must exceed the persister's bulk chunk times concurrent persisters
    infra_ferretdb_pool_size: int = Field(default=100, ge=10, le=400)


def cleartext_smtp_login_refusal(settings: SmtpSettings) -> str | None:
    """Why these settings must not log in to the relay, or None when they may.

    A login over ``smtp_tls=none`` sends the password readable to anyone on the
    path. Settings read from the environment are checked at start-up; settings
    made with ``model_copy`` skip validators, so a sender calls this too before
    it logs in.
    """
    if settings.smtp_user and settings.smtp_tls == "none" and not settings.smtp_allow_cleartext_login:
        return (
            "FAILSTREAM_SMTP_USER is set with FAILSTREAM_SMTP_TLS=none: the SMTP password would be sent "
            "in cleartext; use starttls or implicit, or set FAILSTREAM_SMTP_ALLOW_CLEARTEXT_LOGIN=true "
            "for a trusted path"
        )
    return None
