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

from failstream.private_files import private_dir, private_opener, write_private
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


def _alive(pid: int) -> bool:
    """True for a running process; a zombie (exited, not yet reaped) is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass(frozen=True)
class ManagedProcess:
    """One named local service: its pid file, log file and how to start it.

    ``stop_signal`` goes to the whole process group, or with ``signal_group``
    False to the recorded process alone (a server that stops its own children).
    """

    name: str
    stop_signal: signal.Signals = signal.SIGTERM
    signal_group: bool = True

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
        if not _alive(pid):
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def start(
        self, argv: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> int:
        """Start ``argv`` fully detached (own session, not our child) and record its pid.

        A daemon outlives the command or test session that started it, so it
        must not stay our child: ``sh`` backgrounds it under ``setsid`` and
        exits at once, and the pid file is the only handle kept.

        Local data is private: the run, log and data directories are 0700 and
        the service starts under umask 077, so what it writes (broker logs,
        database files, captured mail) is 0600 in 0700 directories.
        """
        for folder in (RUN_DIR, LOG_DIR, DATA_DIR):
            private_dir(folder)
        launcher = 'umask 077; log="$1"; shift; setsid "$@" >>"$log" 2>&1 </dev/null & echo $!'
        result = subprocess.run(
            ["/bin/sh", "-c", launcher, "sh", str(self.log_file), *argv],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            check=True,
        )
        pid = int(result.stdout.strip())
        write_private(self.pid_file, str(pid).encode())
        return pid

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
            if self.signal_group:
                os.killpg(pid, self.stop_signal)
            else:
                os.kill(pid, self.stop_signal)
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
    argv: Sequence[str],
    *,
    what: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    log: Path | None = None,
) -> None:
    """Run one build step in the foreground; its output goes to ``log`` when given.

    A build tool's own output (Maven's colour codes, Go's download lines) is
    not Failstream's: with ``log`` it lands in that file, and only a failure
    shows its tail.
    """
    if log is None:
        say(what)
        result = subprocess.run(list(argv), cwd=cwd, env={**os.environ, **(env or {})}, check=False)
        if result.returncode != 0:
            raise InfraError(f"{what} failed (exit {result.returncode}): {' '.join(argv)}")
        return
    say(f"{what}; output in {log}")
    private_dir(log.parent)
    with open(log, "ab", opener=private_opener) as output:
        result = subprocess.run(
            list(argv),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise InfraError(f"{what} failed (exit {result.returncode}): {' '.join(argv)}\n{tail}")
