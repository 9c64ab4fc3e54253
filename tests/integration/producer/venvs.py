"""Throwaway virtual environments holding this checkout's failstream and one web framework, nothing else.

The drop-in tests install what a host team would: ``failstream`` (a wheel
built once per session from this checkout) plus its framework at a release
older than the project's lock, with the core dependencies at the oldest
releases ``pyproject.toml`` admits, so its lower bounds are tested, not
hoped. The venv has no pip of its own: the project's pip installs into it
(``pip --python``), binary wheels only, from pip's cache after the first
run, which keeps a venv to a few seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

#: the oldest releases of failstream's own dependencies that pyproject.toml admits (its lower bounds)
OLDEST_CORE = (
    "pydantic==2.7.0",
    "pydantic-settings==2.7.0",
    "confluent-kafka==2.4.0",
    "prometheus-client==0.20.0",
    "orjson==3.10.0",
)


def _pip(*args: str, timeout_s: float = 600) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if done.returncode != 0:
        raise AssertionError(f"pip {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def build_wheel(workdir: Path) -> Path:
    """This checkout's failstream as the wheel ``pip install failstream`` would get.

    Built from a copy, so the build leaves nothing (``build/``, egg-info) in
    the shared working tree.
    """
    source = workdir / "source"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "failstream", source / "failstream", ignore=shutil.ignore_patterns("__pycache__"))
    _pip("wheel", "--no-deps", "-w", str(workdir / "dist"), str(source))
    [wheel] = (workdir / "dist").glob("failstream-*.whl")
    return wheel


class ThrowawayVenv:
    """A venv with the failstream wheel and ``requirements`` installed; ``python`` runs in it."""

    def __init__(self, path: Path, wheel: Path, requirements: tuple[str, ...]) -> None:
        self.path = path
        self.python = path / "bin" / "python"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=60)
        _pip("--python", str(self.python), "install", "--only-binary=:all:", str(wheel), *requirements)

    def installed(self) -> dict[str, str]:
        """Distribution name (lower case) -> version, as the venv's own interpreter sees them."""
        code = (
            "import importlib.metadata as m\n"
            "for d in m.distributions(): print(d.metadata['Name'].lower(), d.version)"
        )
        out = subprocess.run(
            [str(self.python), "-c", code], capture_output=True, text=True, check=True
        ).stdout
        return dict(line.split(" ", 1) for line in out.splitlines())
