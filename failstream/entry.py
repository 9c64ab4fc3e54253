"""The ``failstream`` command's entry point, which also answers in a capture-only install.

``pip install failstream`` installs the capture library alone; the command's
own dependencies (typer, the server processes) come with ``failstream[server]``,
and a missing one is said in one line instead of a traceback.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from failstream.cli import app
    except ModuleNotFoundError as exc:
        sys.exit(
            f"failstream: the command needs the server parts ({exc.name} is not installed): "
            "pip install 'failstream[server]'"
        )
    app()
