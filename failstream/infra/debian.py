"""Tools that come from Debian's packages (Chromium for page tests, Prometheus, PostgreSQL).

The project's machines have no Docker engine and reach only package
registries, so these are installed with apt on first use rather than being
expected on the machine: a fresh CI machine gets them the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from failstream.infra.process import InfraError, say

_updated = False


def ensure_binary(binary: str, package: str) -> str:
    """Path of ``binary``, installing Debian's ``package`` if it is missing."""
    found = shutil.which(binary)
    if found:
        return found
    install(package, why=binary)
    found = shutil.which(binary)
    if not found:
        raise InfraError(f"{package} installed but {binary} is not on PATH")
    return found


def install(package: str, *, why: str) -> None:
    """``apt-get install`` Debian's ``package`` (as root, or through ``sudo -n``)."""
    if shutil.which("apt-get") is None:
        raise InfraError(
            f"{why} needs Debian's {package} and apt-get is unavailable: install {package} yourself"
        )
    global _updated
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    say(f"installing Debian package {package} (for {why})")
    try:
        if not _updated:
            subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env, capture_output=True)
            _updated = True
        subprocess.run(
            [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", package],
            check=True,
            env=env,
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:
        tail = exc.stderr.decode(errors="replace").strip().splitlines()[-1:] if exc.stderr else []
        raise InfraError(f"apt-get could not install {package}: {' '.join(tail) or exc}") from exc
