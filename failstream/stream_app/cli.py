"""``failstream dead-letters ...``: inspect and re-drive dead letters."""

from __future__ import annotations

from typing import Any

import typer

from failstream.cli_settings import settings_or_exit
from failstream.settings import MongoSettings, StreamSettings

dead_letters_app = typer.Typer(no_args_is_help=True, help="Dead letters: messages a consumer could not use.")


@dead_letters_app.command("list")
def list_letters(limit: int = typer.Option(20, help="how many to show")) -> None:
    """Show the newest dead letters with their error."""
    from pymongo import MongoClient

    settings = settings_or_exit(MongoSettings)
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri.get_secret_value())
    try:
        for doc in client[settings.mongo_db].dead_letters.find().sort("ts", -1).limit(limit):
            state = "redriven" if doc.get("redriven_at") else "pending"
            typer.echo(f"{doc['_id']}  {state}  {doc.get('error', '')}")
    finally:
        client.close()


@dead_letters_app.command("redrive")
def redrive_letters(
    topic: str = typer.Option("", help="only letters from this source topic"),
    limit: int = typer.Option(0, help="at most this many (0 = all)"),
) -> None:
    """Re-publish pending dead letters to their source topic (each at most once)."""
    from failstream.stream_app.redrive import redrive

    sent, failed = redrive(settings_or_exit(StreamSettings), topic=topic or None, limit=limit)
    typer.echo(f"re-drove {sent} dead letters" + (f", {failed} failed (run again)" if failed else ""))
    if failed:
        raise typer.Exit(1)
