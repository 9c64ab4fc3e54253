"""Two source trees side by side: a temporary worktree of a base commit, and a script run in either."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from failstream.settings import ROOT


@contextmanager
def base_worktree(rev: str, prefix: str) -> Iterator[Path]:
    """A detached worktree of ``rev``, removed again however the benchmark ends."""
    base = Path(tempfile.mkdtemp(prefix=prefix)) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base), rev], check=True)
    try:
        yield base
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)


def run_in_tree(tree: Path, script: str, *args: object) -> dict[str, float]:
    """Run ``script`` in a fresh interpreter importing ``tree``; its last output line, as JSON."""
    out = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result
