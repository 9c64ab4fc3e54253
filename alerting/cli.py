"""``failstream alerts ...``: operate the alerting pipeline (re-drive failed sends)."""

from __future__ import annotations

import typer

alerts_app = typer.Typer(no_args_is_help=True, help="Alert emails: re-drive failed sends.")
