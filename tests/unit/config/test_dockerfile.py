"""The image as the Dockerfile builds it: two stages, a non-root runtime with a command and a
healthcheck, unbuffered logs, no local SMTP sink, and a build context without secrets.

No Docker engine runs here, so the Dockerfile is read instruction by instruction.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass

import pytest

from failstream.settings import ROOT, Settings

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PINNED_TAG = re.compile(r"^\d+\.\d+\.\d+(-[\w.-]+)?$")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def _instructions() -> list[Instruction]:
    """Continuation lines joined, comment lines dropped, as Docker's parser does."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            found.append(Instruction(keyword.upper(), " ".join(args.split())))
    return found


def _stages() -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for instruction in _instructions():
        if instruction.keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _runtime() -> list[Instruction]:
    return _stages()[-1]


def _last(keyword: str) -> Instruction:
    matches = [i for i in _runtime() if i.keyword == keyword]
    assert matches, f"the runtime stage has no {keyword}"
    return matches[-1]


def _env(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in stage:
        if instruction.keyword == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(instruction.args))
    return env


def test_a_builder_stage_makes_wheels_and_a_slim_runtime_installs_them() -> None:
    builder, runtime = _stages()[0], _runtime()
    assert len(_stages()) >= 2
    assert builder[0].args.endswith(" AS builder")
    assert any(i.keyword == "RUN" and "pip wheel" in i.args for i in builder)
    assert "-slim" in runtime[0].args.split()[0]
    installs = [i.args for i in runtime if i.keyword == "RUN" and "pip install" in i.args]
    assert installs and all("from=builder" in args and "--no-index" in args for args in installs)
    assert not any(i.keyword == "COPY" and "--from=" not in i.args for i in runtime), "source in runtime"


def test_every_base_image_is_pinned_to_a_patch_release() -> None:
    for stage in _stages():
        image = stage[0].args.split()[0]
        _, _, tag = image.partition(":")
        assert PINNED_TAG.match(tag), image


def test_the_runtime_runs_as_a_non_root_user_from_before_its_command() -> None:
    user = _last("USER").args.split(":")[0]
    assert user not in {"root", "0"}
    keywords = [i.keyword for i in _runtime()]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")


def test_the_default_command_is_a_failstream_process_and_the_healthcheck_probes_it() -> None:
    cmd = json.loads(_last("CMD").args)  # exec form: signals reach the process, not a shell
    assert cmd == ["failstream", "api"]
    healthcheck = _last("HEALTHCHECK").args
    options, _, probe = healthcheck.partition(" CMD ")
    assert "--interval=" in options and "--timeout=" in options
    probe_argv = json.loads(probe)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert probe_argv[:2] == ["python", "-c"]
    assert f"http://127.0.0.1:{settings.api_port}/readyz" in probe_argv[2]
    assert _env(_runtime()).get("FAILSTREAM_API_HOST") == "0.0.0.0"  # reachable from outside


def test_python_output_is_unbuffered_so_logs_arrive_as_they_happen() -> None:
    assert _env(_runtime())["PYTHONUNBUFFERED"] == "1"


def test_the_image_installs_the_server_extra_without_the_local_smtp_sink() -> None:
    """The builder wheels ``.[server]``; aiosmtpd (the local SMTP sink's server) is only in ``[local]``."""
    builder = " ".join(i.args for i in _stages()[0] if i.keyword == "RUN")
    assert re.search(r"pip wheel .*'\.\[server\]'", builder)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert not any(req.startswith("aiosmtpd") for req in extras["server"])
    assert any(req.startswith("aiosmtpd") for req in extras["local"])
    install = next(i.args for i in _runtime() if i.keyword == "RUN" and "pip install" in i.args)
    assert "--no-deps" in install
    assert "find_spec('aiosmtpd') is not None" in install  # the build fails if it slips back in


def _context_patterns() -> list[str]:
    return [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_the_build_context_lets_in_every_package_and_no_secret_or_local_data() -> None:
    patterns = _context_patterns()
    assert patterns[0] == "*", "an allow-list: what is not named stays out"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {
        p.rstrip("*").split(".")[0] for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert packages <= allowed
    assert {"pyproject.toml", "requirements.lock", pyproject["project"]["readme"]} <= allowed
    assert not allowed & {".env", "certificates", ".venv", ".infra", "tests"}
    assert any(i.keyword == "COPY" and i.args.split()[0] == "." for i in _stages()[0])


@pytest.mark.parametrize("secret", [".env", "certificates/service.key"])
def test_no_pattern_lets_a_secret_back_in(secret: str) -> None:
    for pattern in _context_patterns():
        if pattern.startswith("!"):
            assert not secret.startswith(pattern[1:].rstrip("/")), pattern
