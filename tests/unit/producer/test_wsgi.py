from __future__ import annotations

from collections.abc import Iterator

import pytest

from failstream.producer.capture import FailureRecorder
from failstream.producer.classify import set_failure_reason
from failstream.producer.wsgi import FailureCaptureWSGIMiddleware, set_route


def _environ(path: str = "/orders/7", **extra: str) -> dict:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "REMOTE_ADDR": "203.0.113.5",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
    }
    environ.update(extra)
    return environ


def _call(app, environ: dict) -> tuple[str, list[bytes]]:
    seen: list[str] = []

    def start_response(status: str, headers: list, exc_info: object = None) -> None:
        seen.append(status)

    body = app(environ, start_response)
    try:
        chunks = list(body)
    finally:
        close = getattr(body, "close", None)
        if close:
            close()
    return seen[0], chunks


def app_401(environ: dict, start_response) -> list[bytes]:
    set_route(environ, "/orders/<int:order_id>")
    if environ.get("HTTP_AUTHORIZATION") == "Bearer old":
        set_failure_reason(environ, "expired_token")
    start_response("401 Unauthorized", [("WWW-Authenticate", "Bearer")])
    return [b"denied"]


def lazy_app_503(environ: dict, start_response) -> Iterator[bytes]:
    start_response("503 Service Unavailable", [])
    yield b"later"


def app_raises(environ: dict, start_response) -> list[bytes]:
    raise ValueError("host bug")


@pytest.fixture
def recorder(unit_settings, recording_sink) -> FailureRecorder:
    return FailureRecorder(unit_settings, recording_sink)


def test_a_401_becomes_one_event_and_the_body_is_untouched(recorder, recording_sink) -> None:
    app = FailureCaptureWSGIMiddleware(app_401, recorder=recorder)
    status, body = _call(app, _environ(HTTP_AUTHORIZATION="Bearer nope", HTTP_USER_AGENT="curl/8"))
    assert (status, body) == ("401 Unauthorized", [b"denied"])
    [event] = recording_sink.events()
    assert event["route"] == "/orders/<int:order_id>"
    assert (event["ip"], event["status"], event["reason"], event["method"]) == (
        "203.0.113.5",
        401,
        "invalid_token",
        "POST",
    )
    assert event["user_agent"] == "curl/8"
    assert "nope" not in str(event)


def test_missing_and_expired_tokens_are_told_apart(recorder, recording_sink) -> None:
    app = FailureCaptureWSGIMiddleware(app_401, recorder=recorder)
    _call(app, _environ())
    _call(app, _environ(HTTP_AUTHORIZATION="Bearer old"))
    assert [e["reason"] for e in recording_sink.events()] == ["missing_token", "expired_token"]


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(recorder, recording_sink) -> None:
    app = FailureCaptureWSGIMiddleware(app_401, recorder=recorder)
    _call(app, _environ(HTTP_X_FORWARDED_FOR="1.2.3.4"))
    assert recording_sink.events()[0]["ip"] == "203.0.113.5"


def test_a_lazy_app_is_captured_when_it_starts_the_response(recorder, recording_sink) -> None:
    app = FailureCaptureWSGIMiddleware(lazy_app_503, recorder=recorder)
    status, body = _call(app, _environ())
    assert (status, body) == ("503 Service Unavailable", [b"later"])
    [event] = recording_sink.events()
    assert (event["status"], event["reason"], event["route"]) == (503, "server_error", "<unmatched>")


def test_an_exception_is_captured_as_server_error_and_re_raised(recorder, recording_sink) -> None:
    app = FailureCaptureWSGIMiddleware(app_raises, recorder=recorder)
    with pytest.raises(ValueError, match="host bug"):
        _call(app, _environ())
    assert recording_sink.events()[0]["reason"] == "server_error"


def test_werkzeug_url_rule_names_the_route(recorder, recording_sink) -> None:
    class Rule:
        rule = "/users/<int:user_id>"

    class WerkzeugRequest:
        url_rule = Rule()

    def flask_like(environ: dict, start_response) -> list[bytes]:
        environ["werkzeug.request"] = WerkzeugRequest()
        start_response("403 Forbidden", [])
        return []

    _call(FailureCaptureWSGIMiddleware(flask_like, recorder=recorder), _environ("/users/5"))
    assert recording_sink.events()[0]["route"] == "/users/<int:user_id>"


def test_a_route_hook_overrides_the_default(recorder, recording_sink) -> None:
    app = FailureCaptureWSGIMiddleware(app_401, recorder=recorder, route_of=lambda environ: "/hooked")
    _call(app, _environ())
    assert recording_sink.events()[0]["route"] == "/hooked"


def test_skipped_paths_and_successes_are_not_captured(recorder, recording_sink) -> None:
    def ok(environ: dict, start_response) -> list[bytes]:
        start_response("200 OK", [])
        return [b"ok"]

    _call(FailureCaptureWSGIMiddleware(ok, recorder=recorder), _environ())
    _call(FailureCaptureWSGIMiddleware(app_401, recorder=recorder), _environ("/healthz"))
    assert recording_sink.sent == []
