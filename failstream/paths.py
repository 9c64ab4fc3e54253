"""Where the capture keeps its files by default: the user's cache directory, never the installed package.

Beside the settings, not in the capture library: ``Settings`` computes the
default from it, and the server processes read the same settings.

A library installed into site-packages (or a read-only image) must not write
beside its own code, and two services on one host must not share a spool by
accident of their install. The spool is a cache in the XDG sense: lost, it
costs only the events Kafka never took. Pure stdlib, as ``platformdirs``
computes it (``user_cache_dir("failstream")``), without a new dependency.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "failstream"


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/failstream`` or ``~/.cache/failstream`` (Linux, BSD); the platform's own else."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / APP
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / APP / "Cache"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    # the XDG spec: a relative path is invalid and is ignored
    base_dir = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base_dir / APP


def default_spool_dir() -> Path:
    """The spool when ``FAILSTREAM_PRODUCER_SPOOL_DIR`` is not set."""
    return user_cache_dir() / "spool"
