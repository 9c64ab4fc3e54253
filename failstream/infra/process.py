"""Start, find and stop the detached processes that make up local infra."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from failstream.settings import ROOT

INFRA_DIR = ROOT / ".infra"
RUN_DIR = INFRA_DIR / "run"
LOG_DIR = INFRA_DIR / "logs"
DATA_DIR = INFRA_DIR / "data"


class InfraError(RuntimeError):
    """A local service could not be built or started; the message says why."""


def say(message: str) -> None:
    print(f"[infra] {message}", flush=True)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class ManagedProcess:
    """One named local service: its pid file, log file and how to start it."""

    name: str

    @property
    def pid_file(self) -> Path:
        return RUN_DIR / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return LOG_DIR / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid we recorded, if that process is still alive."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            # reap it if it is our own exited child, so a zombie is not "alive"
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                raise ProcessLookupError
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            self.pid_file.unlink(missing_ok=True)
            return None
        except PermissionError:
            return pid
        return pid

    def start(
        self, argv: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> int:
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = self.log_file.open("ab")
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the CLI and the test session that started it
        )
        log.close()
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def wait_ready(self, ready: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready():
                return
            if self.pid() is None:
                raise InfraError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            time.sleep(0.25)
        raise InfraError(f"{self.name} did not answer within {timeout_s:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 20.0) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if self.pid() is not None:
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def run_step(
    argv: Sequence[str], *, what: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> None:
    """Run one build step in the foreground, showing its output as it goes."""
    say(what)
    result = subprocess.run(list(argv), cwd=cwd, env={**os.environ, **(env or {})}, check=False)
    if result.returncode != 0:
        raise InfraError(f"{what} failed (exit {result.returncode}): {' '.join(argv)}")
