"""A client behind real nginx and HAProxy cannot choose the IP its failures are recorded under.

Debian's nginx (``$proxy_add_x_forwarded_for``) and HAProxy (``option
forwardfor``, which adds its own header line after the client's) stand in
front of the demo service, whose only trusted proxy is 127.0.0.1 and whose
header is X-Forwarded-For. Clients on 127.0.0.N send forged X-Forwarded-For,
X-Real-IP and Forwarded headers naming other addresses, 127.0.0.1 included;
the stored failures and the alert email name only their real source
addresses.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from failstream.infra.debian import ensure_binary
from failstream.settings import Settings
from tests.integration.services import ProcessGroup, SmtpSink, free_port, wait_until

pytestmark = pytest.mark.integration

NGINX_CLIENT = "127.0.0.7"
HAPROXY_CLIENT = "127.0.0.8"
FRAMED = ("198.51.100.77", "198.51.100.78", "198.51.100.79")
SPOOFS = [
    ("X-Forwarded-For", f"{FRAMED[0]}, 127.0.0.1"),
    ("Forwarded", f"for={FRAMED[1]}"),
    ("X-Real-IP", FRAMED[2]),
]

NGINX_CONF = """
{user}
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""

HAPROXY_CONF = """
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option forwardfor
frontend front
    bind 127.0.0.1:{port}
    default_backend demo
backend demo
    server demo 127.0.0.1:{upstream}
"""


def _start(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture
def proxies(tmp_path: Path, settings: Settings) -> Iterator[dict[str, int]]:
    """nginx and HAProxy in the foreground on free loopback ports, in front of the demo service."""
    nginx, haproxy = ensure_binary("nginx", "nginx"), ensure_binary("haproxy", "haproxy")
    ports = {"nginx": free_port(), "haproxy": free_port()}
    conf_dir = tmp_path / "proxies"
    conf_dir.mkdir()
    # as root, nginx's workers would drop to an account that cannot enter tmp_path
    user = "user root;" if os.geteuid() == 0 else ""
    nginx_conf = conf_dir / "nginx.conf"
    nginx_conf.write_text(
        NGINX_CONF.format(user=user, dir=conf_dir, port=ports["nginx"], upstream=settings.demo_port)
    )
    haproxy_conf = conf_dir / "haproxy.cfg"
    haproxy_conf.write_text(HAPROXY_CONF.format(port=ports["haproxy"], upstream=settings.demo_port))
    procs = [
        _start([nginx, "-e", str(conf_dir / "nginx-error.log"), "-p", str(conf_dir), "-c", str(nginx_conf)],
               conf_dir / "nginx.log"),
        _start([haproxy, "-db", "-f", str(haproxy_conf)], conf_dir / "haproxy.log"),
    ]  # fmt: skip
    try:
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _forged_requests(url: str, source_ip: str, n: int) -> list[int]:
    transport = httpx.HTTPTransport(local_address=source_ip)
    with httpx.Client(transport=transport, timeout=5) as client:
        return [
            client.post(
                f"{url}/api/submit", headers=[("Authorization", f"Bearer wrong-{i}"), *SPOOFS]
            ).status_code
            for i in range(n)
        ]


def _text(message: object) -> str:
    parts = [str(message["Subject"])]  # type: ignore[index]
    for part in message.walk():  # type: ignore[attr-defined]
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)


def test_a_client_behind_nginx_or_haproxy_is_recorded_and_alerted_under_its_real_address(
    settings: Settings,
    smtp_sink: SmtpSink,
    processes: ProcessGroup,
    proxies: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings.model_copy(
        update={
            "smtp_port": smtp_sink.port,
            "group_wait_s": 0.0,
            "rule_ip_threshold": 3,
            "trusted_proxies": ("127.0.0.1",),
            "forwarded_header": "x-forwarded-for",
        }
    )
    # uvicorn's own proxy-header handling (on by default, trusting 127.0.0.1) would put the
    # X-Forwarded-For address in the scope before the middleware sees the peer: off, so the
    # answer here is Failstream's alone
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "")
    for name in ("stream", "alerting", "demo-app"):
        processes.start(name, name, settings)
    nginx_url = f"http://127.0.0.1:{proxies['nginx']}"
    haproxy_url = f"http://127.0.0.1:{proxies['haproxy']}"
    wait_until(lambda: _answers(f"{nginx_url}/healthz"), 30, "the demo service behind nginx")
    wait_until(lambda: _answers(f"{haproxy_url}/healthz"), 30, "the demo service behind HAProxy")

    assert _forged_requests(nginx_url, NGINX_CLIENT, 4) == [401] * 4
    assert _forged_requests(haproxy_url, HAPROXY_CLIENT, 4) == [401] * 4

    failures = MongoClient(settings.mongo_uri.get_secret_value())[settings.mongo_db]["failures"]

    def stored() -> dict[str, int]:
        counts: dict[str, int] = {}
        for doc in failures.find({}, {"ip": 1}):
            counts[doc["ip"]] = counts.get(doc["ip"], 0) + 1
        return counts

    try:
        wait_until(lambda: sum(stored().values()) >= 8, 90, "8 failures stored")
        assert stored() == {NGINX_CLIENT: 4, HAPROXY_CLIENT: 4}

        def alerted() -> str:
            return "\n".join(_text(m) for m in smtp_sink.messages())

        wait_until(
            lambda: NGINX_CLIENT in alerted() and HAPROXY_CLIENT in alerted(), 60, "alerts for both clients"
        )
        text = alerted()
        assert not any(framed in text for framed in FRAMED), text
        subjects = " ".join(str(m["Subject"]) for m in smtp_sink.messages())
        assert "127.0.0.1 " not in f"{subjects} ", subjects  # never the proxies' own address
    finally:
        failures.database.client.drop_database(settings.mongo_db)
        failures.database.client.close()
