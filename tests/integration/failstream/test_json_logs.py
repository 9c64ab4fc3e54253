"""FAILSTREAM_LOG_FORMAT=json: every line a real process writes is one JSON object, libraries' too."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from failstream.settings import Settings
from tests.integration.services import ProcessGroup, free_port, wait_until

pytestmark = pytest.mark.integration

FIELDS = {"time", "level", "logger", "message", "process"}


def _records(text: str) -> list[dict[str, object]]:
    """Every line of a log as JSON; a line that is not JSON fails with the line in the message."""
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line: {line!r}\n--- log ---\n{text[-4000:]}") from None
        assert isinstance(record, dict) and FIELDS <= record.keys(), line
        records.append(record)
    return records


def _written(processes: ProcessGroup, name: str) -> list[dict[str, object]]:
    """The complete lines so far (the process may be writing the last one)."""
    text = processes.log(name)
    return _records(text[: text.rfind("\n") + 1])


def _loggers(processes: ProcessGroup, name: str) -> set[str]:
    return {str(r["logger"]) for r in _written(processes, name)}


def test_api_logs_json_lines_uvicorn_and_access_log_included(
    settings: Settings, processes: ProcessGroup, tmp_path: Path
) -> None:
    json_settings = settings.model_copy(update={"log_format": "json"})
    processes.start("api", "api", json_settings)
    url = f"http://127.0.0.1:{settings.api_port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/healthz?api_key=k-in-query-51c2", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(answers, 60, "the API")
    wait_until(lambda: "uvicorn.access" in _loggers(processes, "api"), 10, "an access line")
    processes.stop_all()  # shutdown lines are JSON too

    records = _records(processes.log("api"))
    loggers = {r["logger"] for r in records}
    assert {"uvicorn.error", "uvicorn.access"} <= loggers
    assert all(r["logger"] != "uvicorn.access" or "api_key=***" in str(r["message"]) for r in records)
    assert "k-in-query-51c2" not in processes.log("api")


def test_stream_worker_and_its_persister_log_json_lines_faust_included(
    settings: Settings, processes: ProcessGroup
) -> None:
    json_settings = settings.model_copy(
        update={
            "log_format": "json",
            "metrics_stream_port": free_port(),
            "metrics_persister_port": free_port(),
        }
    )
    proc = processes.start("stream", "stream", json_settings)

    def ready() -> bool:
        records = _written(processes, "stream")
        worker_ready = any(str(r["message"]).endswith("Worker]: Ready") for r in records)
        persister = any(r["process"] != proc.pid for r in records)  # the persister's own lines
        return worker_ready and persister

    wait_until(ready, 90, "the worker to be ready and its persister to log")
    processes.stop_all()

    loggers = _loggers(processes, "stream")
    assert any(name.startswith("faust") for name in loggers), loggers
    assert any(name.startswith("failstream.stream") for name in loggers), loggers
