"""The settings every ``failstream`` subcommand reads, or one clear line and exit code 2.

A module of its own so that package subcommands (``dead-letters``, ``reports``)
can share it without importing ``failstream.cli``, which mounts them.
"""

from __future__ import annotations

import typer

from failstream.settings import Settings


def settings_or_exit() -> Settings:
    try:
        return Settings()
    except Exception as exc:
        typer.echo(f"failstream: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc
