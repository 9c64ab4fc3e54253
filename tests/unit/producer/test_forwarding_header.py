"""Only the one forwarding header the settings name counts, all its lines, the same on every path.

Every case runs through the four ways an event is made: each middleware with
a recorder of its own (built on the request thread), and each middleware as
installed (facts queued, the event built on the capture thread).
"""

from __future__ import annotations

from typing import Any

import pytest

from failstream.producer.asgi import FailureCaptureMiddleware
from failstream.producer.capture import FailureRecorder
from failstream.producer.capture_queue import flush_capture
from failstream.producer.request_facts import request_facts
from failstream.producer.wsgi import FailureCaptureWSGIMiddleware
from failstream.settings import Settings
from tests.unit.producer.conftest import RecordingSink

Lines = list[tuple[str, str]]


async def _asgi_401(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 401, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _wsgi_401(environ: dict, start_response: Any) -> list[bytes]:
    start_response("401 Unauthorized", [])
    return [b""]


def _scope(peer: str, lines: Lines) -> dict:
    headers = [(name.lower().encode(), value.encode("latin-1")) for name, value in lines]
    return {"type": "http", "method": "GET", "path": "/x", "headers": headers, "client": (peer, 5000)}


def _environ(peer: str, lines: Lines) -> dict:
    # what a WSGI server (wsgiref, gunicorn, werkzeug) makes of repeated lines: one key, joined by commas
    environ: dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": "/x", "REMOTE_ADDR": peer}
    for name, value in lines:
        key = "HTTP_" + name.upper().replace("-", "_")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


async def _recorded_ips(settings: Settings, peer: str, lines: Lines) -> dict[str, str]:
    ips: dict[str, str] = {}

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        pass

    sink = RecordingSink()
    asgi = FailureCaptureMiddleware(_asgi_401, recorder=FailureRecorder(settings, sink))  # type: ignore[arg-type]
    await asgi(_scope(peer, lines), receive, send)
    ips["asgi on the request thread"] = sink.events()[-1]["ip"]

    sink = RecordingSink()
    asgi = FailureCaptureMiddleware(_asgi_401, settings=settings, sink=sink)  # type: ignore[arg-type]
    await asgi(_scope(peer, lines), receive, send)
    assert flush_capture()
    ips["asgi queued"] = sink.events()[-1]["ip"]

    sink = RecordingSink()
    wsgi = FailureCaptureWSGIMiddleware(_wsgi_401, recorder=FailureRecorder(settings, sink))  # type: ignore[arg-type]
    list(wsgi(_environ(peer, lines), lambda *a: None))
    ips["wsgi on the request thread"] = sink.events()[-1]["ip"]

    sink = RecordingSink()
    wsgi = FailureCaptureWSGIMiddleware(_wsgi_401, settings=settings, sink=sink)  # type: ignore[arg-type]
    list(wsgi(_environ(peer, lines), lambda *a: None))
    assert flush_capture()
    ips["wsgi queued"] = sink.events()[-1]["ip"]
    return ips


def _settings(base: Settings, header: str) -> Settings:
    return base.model_copy(update={"forwarded_header": header, "trusted_proxies": ("10.0.0.0/8",)})


SPOOFS: Lines = [
    ("X-Forwarded-For", "198.51.100.77"),
    ("Forwarded", "for=198.51.100.78"),
    ("X-Real-IP", "198.51.100.79"),
]

CASES = [
    # (header setting, peer, request lines, recorded ip)
    # a client behind nginx or HAProxy: it wrote every header; the proxy appended its own line or value
    ("x-forwarded-for", "10.0.0.5", [*SPOOFS, ("X-Forwarded-For", "203.0.113.9")], "203.0.113.9"),
    ("x-forwarded-for", "10.0.0.5", [("Forwarded", "for=198.51.100.78")], "10.0.0.5"),
    (
        "x-forwarded-for",
        "10.0.0.5",
        [("X-Forwarded-For", "198.51.100.77, 203.0.113.9"), *SPOOFS[1:]],
        "203.0.113.9",
    ),
    (
        "x-forwarded-for",
        "10.0.0.5",
        [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-For", "10.0.0.8")],
        "203.0.113.9",
    ),
    ("forwarded", "10.0.0.5", [*SPOOFS, ("Forwarded", 'for="203.0.113.9:4711";proto=https')], "203.0.113.9"),
    ("forwarded", "10.0.0.5", [("X-Forwarded-For", "198.51.100.77")], "10.0.0.5"),
    (
        "x-real-ip",
        "10.0.0.5",
        [("X-Forwarded-For", "198.51.100.77"), ("X-Real-IP", "203.0.113.9")],
        "203.0.113.9",
    ),
    ("x-real-ip", "10.0.0.5", [("X-Forwarded-For", "198.51.100.77")], "10.0.0.5"),
    # an untrusted peer's headers never count, a dual-stack proxy is still the proxy
    ("x-forwarded-for", "203.0.113.9", SPOOFS, "203.0.113.9"),
    ("x-forwarded-for", "::ffff:10.0.0.5", [("X-Forwarded-For", "::ffff:203.0.113.9")], "203.0.113.9"),
    ("forwarded", "::ffff:10.0.0.5", [("Forwarded", 'for="[2001:db8::9]:80"')], "2001:db8::9"),
]


@pytest.mark.parametrize(("header", "peer", "lines", "expected"), CASES)
async def test_only_the_chosen_header_counts_and_every_path_agrees(
    unit_settings: Settings, header: str, peer: str, lines: Lines, expected: str
) -> None:
    ips = await _recorded_ips(_settings(unit_settings, header), peer, lines)
    assert ips == dict.fromkeys(ips, expected)


def test_all_lines_of_the_header_are_joined_in_order() -> None:
    headers = [
        (b"x-forwarded-for", b"198.51.100.77"),
        (b"user-agent", b"ua"),
        (b"x-forwarded-for", b"203.0.113.9"),
    ]
    addresses, forwarded, *_ = request_facts(headers, 401, None, None, "x-forwarded-for")
    assert (addresses, forwarded) == ("198.51.100.77, 203.0.113.9", None)
    addresses, forwarded, *_ = request_facts(headers, 401, None, None, "forwarded")
    assert (addresses, forwarded) == (None, None)


def test_the_setting_is_read_from_the_environment_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAILSTREAM_FORWARDED_HEADER", "X-Real-IP")
    assert Settings(_env_file=None).forwarded_header == "x-real-ip"  # type: ignore[call-arg]
    assert Settings(_env_file=None, forwarded_header="Forwarded").forwarded_header == "forwarded"  # type: ignore[call-arg]
    monkeypatch.delenv("FAILSTREAM_FORWARDED_HEADER")
    assert Settings(_env_file=None).forwarded_header == "x-forwarded-for"  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="forwarded_header"):
        Settings(_env_file=None, forwarded_header="via")  # type: ignore[call-arg]
