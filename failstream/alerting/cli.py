"""``failstream alerts ...``: operate the alerting pipeline (re-drive failed sends)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from failstream.alerting.redrive import RedriveReport

alerts_app = typer.Typer(no_args_is_help=True, help="Alert emails: re-drive failed sends.")


@alerts_app.command("redrive")
def redrive_command() -> None:
    """Re-send the emails of dead-lettered alerts (after the relay is fixed)."""
    report = asyncio.run(_redrive())
    typer.echo(f"re-sent {len(report.sent)} email(s); {len(report.failed)} failed again")
    for email_id in report.sent:
        typer.echo(f"  sent {email_id}")
    for email_id in report.failed:
        typer.echo(f"  failed {email_id}")
    if report.skipped:
        typer.echo(f"{len(report.skipped)} being re-driven by another process: skipped")
    if report.failed:
        raise typer.Exit(1)


async def _redrive() -> RedriveReport:
    from failstream.alerting.clock import system_clock, system_sleep
    from failstream.alerting.email_event_relay import relaying
    from failstream.alerting.exceptions import AlertingConfigError
    from failstream.alerting.pipeline import build_stages
    from failstream.alerting.redrive import redrive
    from failstream.alerting.service import process_owner
    from failstream.alerting.store import connect, ensure_indexes
    from failstream.settings import AlertingSettings

    try:
        settings = AlertingSettings()
    except Exception as exc:
        typer.echo(f"failstream: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc
    client = connect(settings)
    try:
        db = client[settings.mongo_db]
        await ensure_indexes(db)
        owner = f"redrive:{process_owner()}"
        try:
            stages = build_stages(settings, db, owner, system_clock)
        except AlertingConfigError as exc:
            typer.echo(f"failstream alerts redrive: {exc}", err=True)
            raise typer.Exit(2) from exc
        assert stages.email_events is not None  # build_stages always builds it
        # the re-sent emails' events: published before exit, or left to a running alerting process
        async with relaying(stages.email_events):
            return await redrive(settings, db, stages, owner, system_clock, system_sleep)
    finally:
        await client.close()
