"""Files only their owner can read: private keys, the spool, local service data.

Directories are made 0700 and files created 0600 whatever the process's
umask (a umask can only take bits away from these). Used where a file holds
a secret or someone's data: TLS private keys, spooled failure events (client
addresses, routes), the local services' data and logs.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """``path`` made (with its parents) and set to 0700; returns it."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    # an existing directory (or a umask) may have left it wider; one we do not own
    # (a shared folder set by the user) is left as it is: the files in it are 0600
    if path.stat().st_uid == os.geteuid():
        path.chmod(DIR_MODE)
    return path


def private_opener(path: str, flags: int) -> int:
    """``open(path, mode, opener=private_opener)``: a file it creates is 0600."""
    return os.open(path, flags, FILE_MODE)


def make_private(path: Path) -> None:
    """Narrow an existing file to 0600 (files made by another program, e.g. openssl)."""
    path.chmod(FILE_MODE)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as a 0600 file (an existing file is narrowed first)."""
    if path.exists():
        make_private(path)
    with open(path, "wb", opener=private_opener) as handle:
        handle.write(data)
