"""Which Kafka and MongoDB the integration tests use: environment > containers > local."""

from __future__ import annotations

import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.integration.service_choice import choose_services, docker_engine_answers

KAFKA = {"FAILSTREAM_KAFKA_BOOTSTRAP_SERVERS": "kafka.example:9092"}
MONGO = {"FAILSTREAM_MONGO_URI": "mongodb://db.example:27017/"}
RUNNING = {"FAILSTREAM_TEST_USE_RUNNING_SERVICES": "1"}


def engine(answers: bool) -> tuple[list[bool], Callable[[], bool]]:
    calls: list[bool] = []

    def probe() -> bool:
        calls.append(True)
        return answers

    return calls, probe


@pytest.mark.parametrize("given", [KAFKA, MONGO, RUNNING, {**KAFKA, **MONGO}, {**KAFKA, **MONGO, **RUNNING}])
@pytest.mark.parametrize("engine_answers", [True, False])
def test_services_given_in_the_environment_win_and_docker_is_not_asked(
    given: dict[str, str], engine_answers: bool
) -> None:
    calls, probe = engine(engine_answers)
    assert choose_services(given, probe) == "env"
    assert calls == []


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"FAILSTREAM_TEST_USE_RUNNING_SERVICES": "0"},
        {"FAILSTREAM_KAFKA_BOOTSTRAP_SERVERS": ""},
        {"FAILSTREAM_MONGO_URI": "  "},
        {"FAILSTREAM_SMTP_HOST": "smtp.example"},  # SMTP is always the local sink: not a reason
    ],
)
@pytest.mark.parametrize(("engine_answers", "expected"), [(True, "containers"), (False, "local")])
def test_without_services_in_the_environment_a_docker_engine_means_containers_else_local(
    environ: dict[str, str], engine_answers: bool, expected: str
) -> None:
    calls, probe = engine(engine_answers)
    assert choose_services(environ, probe) == expected
    assert calls == [True]


@pytest.mark.parametrize("forced", ["env", "containers", "local", " Local "])
@pytest.mark.parametrize("given", [{}, KAFKA, RUNNING])
def test_failstream_test_services_overrides_the_choice(forced: str, given: dict[str, str]) -> None:
    calls, probe = engine(True)
    environ = {**given, "FAILSTREAM_TEST_SERVICES": forced}
    assert choose_services(environ, probe) == forced.strip().lower()
    assert calls == []


def test_an_unknown_override_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="env, containers, local"):
        choose_services({"FAILSTREAM_TEST_SERVICES": "docker"}, lambda: True)


# the probe, against stand-in engines that answer GET /_ping


@contextmanager
def ping_server(family: int, address: object, reply: bytes) -> Iterator[Any]:
    requests: list[bytes] = []
    done = threading.Event()
    with socket.socket(family, socket.SOCK_STREAM) as server:
        server.bind(address)
        server.listen(4)
        server.settimeout(0.05)

        def serve() -> None:
            while not done.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                with conn:
                    requests.append(conn.recv(1024))
                    conn.sendall(reply)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield server.getsockname()
        finally:
            done.set()
            thread.join(timeout=2)
    if family == socket.AF_UNIX:
        Path(str(address)).unlink()
    assert requests and all(r.startswith(b"GET /_ping ") for r in requests)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # unix socket paths are limited to ~108 bytes: pytest's tmp_path can be longer
    with tempfile.TemporaryDirectory(prefix="fs-ping-") as d:
        yield Path(d)


def test_an_engine_answering_on_the_docker_host_unix_socket_counts(short_dir: Path) -> None:
    sock = short_dir / "docker.sock"
    with ping_server(socket.AF_UNIX, str(sock), b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"):
        assert docker_engine_answers({"DOCKER_HOST": f"unix://{sock}"})


def test_a_socket_that_answers_with_an_error_or_garbage_does_not_count(short_dir: Path) -> None:
    sock = short_dir / "docker.sock"
    with ping_server(socket.AF_UNIX, str(sock), b"HTTP/1.1 500 Internal Server Error\r\n\r\n"):
        assert not docker_engine_answers({"DOCKER_HOST": f"unix://{sock}"})
    with ping_server(socket.AF_UNIX, str(sock), b"SSH-2.0-OpenSSH\r\n"):
        assert not docker_engine_answers({"DOCKER_HOST": f"unix://{sock}"})


def test_a_missing_socket_or_a_closed_port_does_not_count(short_dir: Path) -> None:
    assert not docker_engine_answers({"DOCKER_HOST": f"unix://{short_dir / 'none.sock'}"})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert not docker_engine_answers({"DOCKER_HOST": f"tcp://127.0.0.1:{port}"}, timeout=0.5)


def test_an_engine_answering_on_a_tcp_docker_host_counts() -> None:
    with ping_server(socket.AF_INET, ("127.0.0.1", 0), b"HTTP/1.0 200 OK\r\n\r\nOK") as address:
        host, port = address
        assert docker_engine_answers({"DOCKER_HOST": f"tcp://{host}:{port}"})


def test_without_docker_host_the_default_socket_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[object] = []

    class Recording(socket.socket):
        def connect(self, address: object) -> None:  # type: ignore[override]
            asked.append(address)
            raise FileNotFoundError(address)

    monkeypatch.setattr(socket, "socket", Recording)
    assert not docker_engine_answers({})
    assert asked == ["/var/run/docker.sock"]
