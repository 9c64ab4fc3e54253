"""The ``failstream`` command: one subcommand per process, plus infra and tools.

Settings are read once here, at the edge, and handed down; start-up failures
are reported as one clear line and a non-zero exit.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn, TypeVar

import typer

from failstream.cli_settings import settings_or_exit
from failstream.settings import AlertingSettings, ApiSettings, LogSettings, Settings, StreamSettings

L = TypeVar("L", bound=LogSettings)

#: Plain tracebacks: a crash of a long-running process lands in its log, where a boxed,
#: locals-printing rich traceback buries the exception line (and may print secrets).
app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False)
infra_app = typer.Typer(
    no_args_is_help=True, help="Local Kafka, FerretDB, SMTP sink and Prometheus (no Docker)."
)
app.add_typer(infra_app, name="infra")

# Each package owns its operational subcommands; they are mounted here.
from failstream.alerting.cli import alerts_app  # noqa: E402
from failstream.alerting.reports.cli import reports_app  # noqa: E402
from failstream.stream_app.cli import dead_letters_app  # noqa: E402

app.add_typer(dead_letters_app, name="dead-letters")
app.add_typer(alerts_app, name="alerts")
app.add_typer(reports_app, name="reports")


def _version(value: bool) -> None:
    """``--version``: the installed distribution's, so a bug report names what actually ran."""
    if value:
        try:
            typer.echo(f"failstream {version('failstream')}")
        except PackageNotFoundError:
            typer.echo("failstream (not installed: no package metadata)")
        raise typer.Exit()


@app.callback()
def main(
    show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    pass


def _echo_json(document: dict[str, Any]) -> None:
    """One JSON document on stdout, for scripts and monitors; diagnostics stay on stderr."""
    typer.echo(json.dumps(document, indent=2))


def _process_settings(kind: type[L]) -> L:
    """The settings of a long-running process, its logging set up from them first."""
    from failstream.logs import configure_logging

    settings = settings_or_exit(kind)
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _fail(exc: Exception) -> NoReturn:
    typer.echo(f"failstream: {exc}", err=True)
    raise typer.Exit(1) from exc


@infra_app.command("up")
def infra_up(
    prometheus: bool = typer.Option(False, "--prometheus", help="also Prometheus, scraping every process"),
) -> None:
    """Build on first use, start, and wait until every local service answers."""
    from failstream.infra import stack
    from failstream.infra.process import InfraError

    try:
        for line in stack.up(settings_or_exit(Settings), with_prometheus=prometheus):
            typer.echo(line)
    except InfraError as exc:
        _fail(exc)


@infra_app.command("down")
def infra_down() -> None:
    """Stop the services failstream started (and only those)."""
    from failstream.infra import stack

    for line in stack.down():
        typer.echo(line)


@infra_app.command("status")
def infra_status(
    as_json: bool = typer.Option(False, "--json", help="one JSON document instead of lines"),
) -> None:
    """Probe each local service at its configured address; exit 1 if a required one is down."""
    from dataclasses import asdict

    from failstream.infra import stack

    services = stack.status(settings_or_exit(Settings))
    down = [svc.name for svc in services if svc.failing]
    if as_json:
        _echo_json({"ok": not down, "down": down, "services": [asdict(svc) for svc in services]})
    else:
        for svc in services:
            typer.echo(svc.line())
    if down:
        raise typer.Exit(1)


@app.command()
def stream() -> None:
    """Run a Faust stream worker (add more for scale-out: same consumer group)."""
    from failstream.stream_app.worker import run_worker

    run_worker(_process_settings(StreamSettings))


@app.command()
def alerting() -> None:
    """Run the alerting process: fence, silence, rate-limit, group, send, record."""
    import asyncio

    from failstream.alerting.service import run

    asyncio.run(run(_process_settings(AlertingSettings)))


@app.command()
def api() -> None:
    """Serve the REST API, live feeds and dashboard."""
    import logging

    import uvicorn

    from failstream.api.app import create_app
    from failstream.api.key_policy import ApiKeysRefused, check_bind

    settings = _process_settings(ApiSettings)
    try:
        notice = check_bind(settings)
    except ApiKeysRefused as exc:
        _fail(exc)
    if notice:
        logging.getLogger("failstream.api").warning(notice)
    # live streams (SSE) never end by themselves: without a bound, a shutdown would wait for
    # every dashboard to close; after 5 s what is still open is cancelled (clients resume).
    # log_config=None: uvicorn's loggers, the access log too, propagate to our handler
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        timeout_graceful_shutdown=5,
    )


@app.command("demo-app")
def demo_app() -> None:
    """Serve the demo service (POST /api/submit needs a bearer token)."""
    import uvicorn

    from failstream.producer.demo_app import create_demo_app

    settings = _process_settings(Settings)
    # the capture middleware resolves the client itself, from the socket peer and only the
    # header FAILSTREAM_FORWARDED_HEADER names: uvicorn must not rewrite the peer first.
    # No access log: the demo traffic's requests would bury everything else.
    uvicorn.run(
        create_demo_app(settings),
        host=settings.demo_host,
        port=settings.demo_port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )


@app.command()
def demo(
    seconds: int = typer.Option(0, help="run demo traffic this long, 0 = until Ctrl-C"),
    prometheus: bool = typer.Option(False, "--prometheus", help="also Prometheus, scraping every process"),
) -> None:
    """Start infra and every process, then send demo traffic; prints where to look."""
    from failstream.demo import run_demo

    try:
        run_demo(_process_settings(Settings), seconds=seconds, with_prometheus=prometheus)
    except Exception as exc:
        _fail(exc)


@app.command()
def doctor(
    as_json: bool = typer.Option(False, "--json", help="one JSON document instead of lines"),
) -> None:
    """Check Kafka (reachability, TLS/SASL credentials, topics), MongoDB and SMTP; one line each."""
    from dataclasses import asdict

    from failstream.doctor import run_checks

    settings = settings_or_exit(Settings)
    if as_json:
        results = list(run_checks(settings))
        _echo_json({"ok": all(r.ok for r in results), "checks": [asdict(r) for r in results]})
        failed = sum(not r.ok for r in results)
    else:
        failed = 0
        for result in run_checks(settings):  # each line as soon as its check is done
            typer.echo(result.line())
            failed += not result.ok
    if failed:
        raise typer.Exit(1)


if __name__ == "__main__":
    sys.exit(app())
