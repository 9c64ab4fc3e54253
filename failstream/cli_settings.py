"""The settings a ``failstream`` subcommand reads, or one clear line and exit code 2.

A module of its own so that package subcommands (``dead-letters``, ``reports``)
can share it without importing ``failstream.cli``, which mounts them. Each
subcommand names the class of the process it runs (``StreamSettings`` for the
worker), so it reads, and fails on, only the settings that process uses.
"""

from __future__ import annotations

from typing import TypeVar

import typer

from failstream.settings import EnvironmentSettings

S = TypeVar("S", bound=EnvironmentSettings)


def settings_or_exit(kind: type[S]) -> S:
    try:
        return kind()
    except Exception as exc:
        typer.echo(f"failstream: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc
