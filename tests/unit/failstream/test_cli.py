"""The ``failstream`` command as scripts and monitors use it: version, exit codes, ``--json``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from importlib.metadata import version

import pytest
from typer.testing import CliRunner

from failstream import cli, doctor
from failstream.doctor import CheckResult
from failstream.settings import Settings

REQUIRED = {"kafka", "ferretdb", "smtp-sink"}


def _free_port() -> int:
    """A loopback port nothing listens on (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(kafka: int, mongo: int, smtp: int, prometheus: int) -> dict[str, str]:
    return {
        "FAILSTREAM_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka}",
        "FAILSTREAM_MONGO_URI": f"mongodb://127.0.0.1:{mongo}/",
        "FAILSTREAM_SMTP_HOST": "127.0.0.1",
        "FAILSTREAM_SMTP_PORT": str(smtp),
        "FAILSTREAM_INFRA_PROMETHEUS_PORT": str(prometheus),
    }


@pytest.fixture
def listening() -> Iterator[list[int]]:
    """Three loopback ports that accept connections, as running services would."""
    with ExitStack() as stack:
        ports = []
        for _ in range(3):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            ports.append(int(sock.getsockname()[1]))
        yield ports


def test_version_is_the_installed_distributions() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "failstream.cli", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"failstream {version('failstream')}"


def test_the_app_keeps_plain_tracebacks() -> None:
    assert cli.app.pretty_exceptions_enable is False


def test_infra_status_exits_non_zero_and_names_what_is_down_when_nothing_answers() -> None:
    env = _env(_free_port(), _free_port(), _free_port(), _free_port())
    result = CliRunner().invoke(cli.app, ["infra", "status"], env=env)
    assert result.exit_code == 1
    for name in REQUIRED:
        assert f"{name}: DOWN" in result.stdout
    assert "prometheus: not running" in result.stdout


def test_infra_status_json_is_one_document_that_says_what_is_down() -> None:
    env = {**os.environ, **_env(_free_port(), _free_port(), _free_port(), _free_port())}
    result = subprocess.run(
        [sys.executable, "-m", "failstream.cli", "infra", "status", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)  # nothing else on stdout
    assert document["ok"] is False
    assert set(document["down"]) == REQUIRED  # the optional Prometheus is reported, not counted
    states = {s["name"]: (s["state"], s["required"]) for s in document["services"]}
    assert states == {
        "kafka": ("down", True),
        "ferretdb": ("down", True),
        "smtp-sink": ("down", True),
        "prometheus": ("down", False),
    }


def test_infra_status_exits_zero_when_every_required_service_answers(listening: list[int]) -> None:
    kafka, mongo, smtp = listening
    env = _env(kafka, mongo, smtp, _free_port())
    result = CliRunner().invoke(cli.app, ["infra", "status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["down"] == []
    addresses = {s["name"]: s["address"] for s in document["services"] if s["state"] == "up"}
    assert addresses == {
        "kafka": f"127.0.0.1:{kafka}",
        "ferretdb": f"127.0.0.1:{mongo}",
        "smtp-sink": f"127.0.0.1:{smtp}",
    }


def test_infra_status_does_not_count_a_remote_service_as_down() -> None:
    env = {
        **_env(_free_port(), _free_port(), _free_port(), _free_port()),
        "FAILSTREAM_SMTP_HOST": "smtp.example.com",
        "FAILSTREAM_MONGO_URI": "mongodb+srv://cluster0.example.net/",
    }
    result = CliRunner().invoke(cli.app, ["infra", "status", "--json"], env=env)
    assert result.exit_code == 1  # the local Kafka port still answers nothing
    document = json.loads(result.stdout)
    assert document["down"] == ["kafka"]
    states = {s["name"]: s["state"] for s in document["services"]}
    assert states["smtp-sink"] == states["ferretdb"] == "remote"


def _fake_checks(*results: CheckResult) -> tuple[Callable[[Settings], CheckResult], ...]:
    """Checks that answer at once: what is tested is the command's output, not a service."""

    def make(result: CheckResult) -> Callable[[Settings], CheckResult]:
        return lambda settings: result

    return tuple(make(r) for r in results)


def test_doctor_json_is_one_document_with_every_check_and_fails_if_one_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        doctor,
        "CHECKS",
        _fake_checks(
            CheckResult("kafka-port", True, "127.0.0.1:9092 accepts connections"),
            CheckResult("smtp", False, "127.0.0.1:1 no answer", "start the relay"),
        ),
    )
    result = CliRunner().invoke(cli.app, ["doctor", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "ok": False,
        "checks": [
            {"name": "kafka-port", "ok": True, "detail": "127.0.0.1:9092 accepts connections", "hint": ""},
            {"name": "smtp", "ok": False, "detail": "127.0.0.1:1 no answer", "hint": "start the relay"},
        ],
    }


def test_doctor_json_exits_zero_when_every_check_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "CHECKS", _fake_checks(CheckResult("mongodb", True, "ping answered")))
    result = CliRunner().invoke(cli.app, ["doctor", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["ok"] is True


def test_doctor_text_stays_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "CHECKS", _fake_checks(CheckResult("smtp", False, "no answer", "start it")))
    result = CliRunner().invoke(cli.app, ["doctor"])
    assert result.exit_code == 1
    assert result.stdout == "FAIL smtp          no answer -> fix: start it\n"


def test_settings_of_the_status_tests_are_valid() -> None:
    """The env the tests give is read as meant (a typo in a name would be silently ignored)."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in _env(1, 2, 3, 4).items():
            mp.setenv(key, value)
        settings = Settings()
    assert (settings.smtp_port, settings.infra_prometheus_port) == (3, 4)
    assert settings.mongo_uri.get_secret_value() == "mongodb://127.0.0.1:2/"
