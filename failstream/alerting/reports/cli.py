"""``failstream reports ...``: list the report schedules, or send one report now."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer

from failstream.cli_settings import settings_or_exit
from failstream.settings import AlertingSettings

if TYPE_CHECKING:
    from failstream.alerting.reports.sender import ReportOutcome
    from failstream.settings import ReportSchedule

reports_app = typer.Typer(no_args_is_help=True, help="Scheduled summary reports: list, send now.")


@reports_app.command("list")
def list_command() -> None:
    """Each schedule with its next due time (UTC)."""
    from datetime import UTC, datetime

    from failstream.alerting.reports.schedule import next_due
    from failstream.events import now_ms

    settings = settings_or_exit(AlertingSettings)
    if not settings.report_schedules:
        typer.echo("no report schedules (set FAILSTREAM_REPORT_SCHEDULES)")
    for s in settings.report_schedules:
        due = datetime.fromtimestamp(next_due(s, now_ms(), settings.report_timezone) / 1000, UTC)
        when = f"cron {s.cron!r}" if s.cron else f"at {s.at}"
        recipients = ", ".join(s.recipients or settings.oncall_recipients)
        typer.echo(
            f"{s.name}: last {s.period}, {when} {s.tz or settings.report_timezone}, "
            f"next {due:%Y-%m-%d %H:%M} UTC, to {recipients}"
        )


@reports_app.command("send-now")
def send_now_command(name: str = typer.Argument(..., help="the schedule's name")) -> None:
    """Send the schedule's report for the period ending at the last full minute, now.

    A manual report is an extra: it does not count as the scheduled one.
    """
    settings = settings_or_exit(AlertingSettings)
    schedule = next((s for s in settings.report_schedules if s.name == name), None)
    if schedule is None:
        known = ", ".join(s.name for s in settings.report_schedules) or "none"
        typer.echo(f"failstream reports: no schedule named {name!r} (known: {known})", err=True)
        raise typer.Exit(2)
    outcome = asyncio.run(_send_now(settings, schedule))
    if outcome.status != "sent":
        typer.echo(f"report {outcome.key} {outcome.status}: {outcome.error}", err=True)
        raise typer.Exit(1)
    typer.echo(f"report {outcome.key} sent as {outcome.email_id}")


async def _send_now(settings: AlertingSettings, schedule: ReportSchedule) -> ReportOutcome:
    from failstream.alerting.clock import system_clock, system_sleep
    from failstream.alerting.dependencies import Held, kafka
    from failstream.alerting.email_event_relay import EmailEventRelay, relaying
    from failstream.alerting.exceptions import AlertingConfigError
    from failstream.alerting.reports.schedule import period_ending
    from failstream.alerting.reports.sender import build_report_sender
    from failstream.alerting.service import process_owner
    from failstream.alerting.store import connect

    client = connect(settings)
    try:
        db = client[settings.mongo_db]
        owner = f"send-now:{process_owner()}"
        relay = EmailEventRelay(settings, db, owner, Held(), kafka(), system_clock)
        try:
            sender = build_report_sender(settings, db, relay.publisher, owner, system_clock, system_sleep)
        except AlertingConfigError as exc:
            typer.echo(f"failstream reports send-now: {exc}", err=True)
            raise typer.Exit(2) from exc
        now = system_clock()
        period = period_ending(schedule, now - now % 60_000, settings.report_timezone)
        # the email's events: published before exit, or left to a running alerting process
        async with relaying(relay):
            return await sender.send(schedule, period, manual=True)
    finally:
        await client.close()
