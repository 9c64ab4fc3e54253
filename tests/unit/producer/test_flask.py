"""Flask 3: failures carry the matched rule, not ``<unmatched>``, with the README line or the extension."""

from __future__ import annotations

import flask
import pytest

from failstream.producer.capture_queue import flush_capture
from failstream.producer.flask import Failstream
from failstream.producer.wsgi import FailureCaptureWSGIMiddleware
from failstream.settings import Settings
from tests.unit.producer.conftest import RecordingSink


def _app() -> flask.Flask:
    app = flask.Flask("shop")
    app.logger.disabled = True  # the 500's traceback is Flask's business, not this test's

    @app.get("/orders/<int:order_id>")
    def order(order_id: int) -> tuple[str, int]:
        if order_id == 0:
            raise RuntimeError("boom")  # Flask answers 500 itself
        flask.abort(403)

    return app


def _routes_of(app: flask.Flask, sink: RecordingSink, paths: list[str]) -> list[tuple[str, int]]:
    client = app.test_client()
    for path in paths:
        client.get(path)
    assert flush_capture()
    return [(event["route"], event["status"]) for event in sink.events()]


@pytest.mark.parametrize("install", ["wsgi_app line", "extension", "init_app"])
def test_flask_failures_carry_the_matched_rule(unit_settings: Settings, install: str) -> None:
    sink = RecordingSink()
    app = _app()
    if install == "wsgi_app line":
        app.wsgi_app = FailureCaptureWSGIMiddleware(app.wsgi_app, settings=unit_settings, sink=sink)  # type: ignore[method-assign]
    elif install == "extension":
        Failstream(app, settings=unit_settings, sink=sink)  # type: ignore[arg-type]
    else:
        extension = Failstream(settings=unit_settings, sink=sink)  # type: ignore[arg-type]
        extension.init_app(app)
        extension.init_app(app)  # twice: still wrapped once
    routes = _routes_of(app, sink, ["/orders/7", "/orders/0"])
    assert routes == [("/orders/<int:order_id>", 403), ("/orders/<int:order_id>", 500)]
