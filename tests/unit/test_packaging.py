"""What ``pip install failstream`` brings into a host service: the capture library, and only it."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

from failstream.settings import ROOT

#: Imported by the server processes only; a host that installs the capture library has none of them.
SERVER_ONLY = (
    "faust",
    "aiokafka",
    "pymongo",
    "fastapi",
    "starlette",
    "uvicorn",
    "typer",
    "aiosmtplib",
    "aiosmtpd",
    "limits",
    "httpx",
    "uvloop",
    "croniter",
    "websockets",
    "mode",
)


def test_the_capture_modules_import_nothing_of_the_server_parts() -> None:
    code = (
        "import json, sys\n"
        "import failstream.producer.asgi, failstream.producer.wsgi, failstream.producer.email_events\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(
        json.loads(
            subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        )
    )
    assert loaded.isdisjoint(SERVER_ONLY), loaded & set(SERVER_ONLY)


def test_only_the_failstream_package_is_installed_at_the_top_level() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["failstream*"]
    top_level = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert top_level <= {"failstream", "tests", "benchmarks"}, top_level


def test_core_dependencies_are_ranges_the_capture_needs_and_the_server_parts_are_extras() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {req.split(">")[0].split("=")[0].split("[")[0] for req in project["dependencies"]}
    assert core == {"confluent-kafka", "pydantic", "pydantic-settings", "prometheus-client", "orjson"}
    every = [
        *project["dependencies"],
        *(r for reqs in project["optional-dependencies"].values() for r in reqs),
    ]
    pinned = [req for req in every if "==" in req]
    assert not pinned, f"exact pins belong in requirements.lock: {pinned}"
    server = {req.split(">")[0].split("[")[0] for req in project["optional-dependencies"]["server"]}
    assert {"faust-streaming", "pymongo", "fastapi", "typer"} <= server
