"""``failstream dead-letters ...``: inspect and re-drive dead letters."""

from __future__ import annotations

import typer

dead_letters_app = typer.Typer(no_args_is_help=True, help="Dead letters: messages a consumer could not use.")
