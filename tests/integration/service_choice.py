"""Which Kafka and MongoDB the integration tests use.

In order: services given by environment variables; else containers, where a
Docker engine answers; else the local processes of ``failstream infra up``.
``FAILSTREAM_TEST_SERVICES=env|containers|local`` overrides the choice.
The choice is a pure function of the environment and one injected probe, so a
unit test covers every case without Docker.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import Literal, cast
from urllib.parse import urlsplit

ServiceSource = Literal["env", "containers", "local"]
SOURCES: tuple[ServiceSource, ...] = ("env", "containers", "local")

OVERRIDE_VAR = "FAILSTREAM_TEST_SERVICES"
RUNNING_SERVICES_VAR = "FAILSTREAM_TEST_USE_RUNNING_SERVICES"
# a service address given in the environment means "use that one": nothing is started
SERVICE_VARS = ("FAILSTREAM_KAFKA_BOOTSTRAP_SERVERS", "FAILSTREAM_MONGO_URI")
# where docker-py, and so testcontainers, looks when DOCKER_HOST is unset
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


def choose_services(environ: Mapping[str, str], engine_answers: Callable[[], bool]) -> ServiceSource:
    """``env`` > ``containers`` (``engine_answers()`` is true) > ``local``.

    ``engine_answers`` is only called when nothing in ``environ`` decides first.
    """
    override = environ.get(OVERRIDE_VAR, "").strip().lower()
    if override:
        if override not in SOURCES:
            raise ValueError(f"{OVERRIDE_VAR}={override!r}: expected one of {', '.join(SOURCES)}")
        return cast(ServiceSource, override)
    if environ.get(RUNNING_SERVICES_VAR) == "1" or any(environ.get(var, "").strip() for var in SERVICE_VARS):
        return "env"
    if engine_answers():
        return "containers"
    return "local"


def docker_engine_answers(environ: Mapping[str, str], timeout: float = 1.0) -> bool:
    """Does a Docker engine answer ``GET /_ping`` where testcontainers would look?

    A raw request on the unix socket or plain TCP (no client library needed);
    other forms (TLS, ssh) ask docker-py, when it is installed.
    """
    target = urlsplit(environ.get("DOCKER_HOST", "").strip() or DEFAULT_DOCKER_HOST)
    tls = environ.get("DOCKER_TLS_VERIFY", "") not in ("", "0")
    try:
        if target.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(target.path)
            except OSError:
                sock.close()
                raise
        elif target.scheme in ("tcp", "http") and not tls and target.hostname:
            sock = socket.create_connection((target.hostname, target.port or 2375), timeout=timeout)
        else:
            return _docker_client_ping(timeout)
        with sock:
            sock.settimeout(timeout)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status_line = sock.recv(64).split(b"\r\n", 1)[0]
    except OSError:
        return False
    parts = status_line.split(b" ")
    return len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1] == b"200"


def _docker_client_ping(timeout: float) -> bool:
    try:
        import docker  # testcontainers' own client; a dev dependency

        client = docker.from_env(timeout=int(max(timeout, 1)))
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False
