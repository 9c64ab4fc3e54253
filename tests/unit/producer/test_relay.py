"""The relay's wire and its entry-to-event logic, without a process or Kafka."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from failstream.producer.asgi import FailureCaptureMiddleware
from failstream.producer.capture import FailureRecorder
from failstream.producer.relay import ASGI_FACTS, MESSAGE, RECORDED_FACTS, EntryDelivery, frame, read_frame
from failstream.producer.relay_client import (
    READY_WAIT_S,
    RELAY_BATCH,
    RelayClient,
    RelayedRecorder,
    recorder_for,
)
from failstream.producer.wsgi import FailureCaptureWSGIMiddleware
from failstream.settings import Settings

TOKEN = "tok-unit-relay-77"


def test_frames_read_back_in_order_and_a_torn_last_frame_ends_the_stream() -> None:
    stream = io.BytesIO(frame({"a": 1}) + frame([("m", "t", b"k", b"v")]) + frame([1, 2, 3])[:-1])
    assert read_frame(stream) == {"a": 1}
    assert read_frame(stream) == [("m", "t", b"k", b"v")]
    assert read_frame(stream) is None
    assert read_frame(io.BytesIO(b"")) is None


def _asgi_entry(**changes: object) -> tuple:
    fields = {
        "ts": 1_700_000_000_123,
        "service": "shop",
        "peer": "10.0.0.9",
        "headers": [
            (b"x-forwarded-for", b"203.0.113.5"),
            (b"authorization", f"Bearer {TOKEN}".encode()),
            (b"user-agent", b"ua/2"),
            (b"x-request-id", b"req-1"),
        ],
        "method": "GET",
        "route": "/items/{id}",
        "status": 401,
        "reason": None,
        "response_headers": [
            (b"www-authenticate", b'Bearer error="invalid_token", error_description="expired"')
        ],
    }
    fields.update(changes)
    return (ASGI_FACTS, *fields.values())


def test_an_asgi_entry_becomes_the_event_the_in_process_middleware_would_send(
    unit_settings: Settings, recording_sink
) -> None:
    delivery = EntryDelivery(unit_settings, recording_sink)
    delivery.deliver(_asgi_entry())
    [(topic, key, _)] = recording_sink.sent
    [event] = recording_sink.events()
    assert topic == unit_settings.topic_failed_requests and key == b"203.0.113.5"  # 10/8 is a trusted proxy
    assert (event["ip"], event["reason"], event["route"], event["status"]) == (
        "203.0.113.5",
        "expired_token",
        "/items/{id}",
        401,
    )
    assert (event["service"], event["user_agent"], event["request_id"]) == ("shop", "ua/2", "req-1")
    assert event["ts"] == 1_700_000_000_123  # when the host saw it, not when the relay got it
    assert TOKEN not in str(event)
    assert delivery.captured() == [("shop", "expired_token", 401, 1)]


def test_the_hosts_own_reason_wins_in_an_asgi_entry(unit_settings: Settings, recording_sink) -> None:
    EntryDelivery(unit_settings, recording_sink).deliver(_asgi_entry(reason="missing_token", headers=[]))
    [event] = recording_sink.events()
    assert (event["ip"], event["reason"]) == ("10.0.0.9", "missing_token")


def test_recorded_facts_and_ready_messages_are_delivered(unit_settings: Settings, recording_sink) -> None:
    delivery = EntryDelivery(unit_settings, recording_sink)
    delivery.deliver(
        (
            RECORDED_FACTS,
            1_700_000_005_000,
            "legacy",
            "192.0.2.1",
            None,
            None,
            "POST",
            "/x",
            503,
            False,
            None,
            "",
            "",
            None,
        )
    )
    delivery.deliver((MESSAGE, "email-events", b"example.org", b'{"v":1}'))
    assert recording_sink.sent[1] == ("email-events", b"example.org", b'{"v":1}')
    [event] = recording_sink.events()[:1]
    assert (event["service"], event["ip"], event["reason"], event["ts"]) == (
        "legacy",
        "192.0.2.1",
        "server_error",
        1_700_000_005_000,
    )


def test_an_unknown_entry_kind_is_refused(unit_settings: Settings, recording_sink) -> None:
    with pytest.raises(ValueError, match="unknown relay entry kind"):
        EntryDelivery(unit_settings, recording_sink).deliver(("z", 1))


class _HeldRelay(RelayClient):
    """A relay client that never starts its process: the test reads the entries it holds."""

    def start(self) -> None:
        pass


@pytest.fixture
def relay(unit_settings: Settings) -> Iterator[RelayClient]:
    client = _HeldRelay(unit_settings)
    yield client
    assert client._proc is None
    del client.batch[:]


def test_headers_marshal_cannot_carry_are_copied_as_byte_pairs(relay: RelayClient) -> None:
    class Headers:
        def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
            return iter([(b"user-agent", b"ua/3")])

    data = relay._encode([_asgi_entry(headers=Headers()), _asgi_entry(headers=[(b"k", object())])])
    assert data is not None
    [entry] = read_frame(io.BytesIO(data))
    assert entry[4] == [(b"user-agent", b"ua/3")]
    assert relay.dropped == 1  # the one whose facts could not be read at all


def test_the_relay_is_the_default_unless_a_sink_is_given_or_it_is_off(
    unit_settings: Settings, recording_sink
) -> None:
    assert isinstance(recorder_for(unit_settings), RelayedRecorder)  # no process until a middleware starts it
    assert isinstance(recorder_for(unit_settings, recording_sink), FailureRecorder)
    assert not isinstance(recorder_for(unit_settings, recording_sink), RelayedRecorder)
    off = unit_settings.model_copy(update={"producer_relay": False})
    assert not isinstance(recorder_for(off, None), RelayedRecorder)


async def _denied(request: Request) -> PlainTextResponse:
    return PlainTextResponse("no", status_code=401, headers={"WWW-Authenticate": "Bearer"})


async def _fine(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def test_the_middleware_hands_the_relay_one_entry_per_failure_and_it_makes_the_same_event(
    unit_settings: Settings, recording_sink, relay: RelayClient
) -> None:
    def app(recorder: FailureRecorder) -> httpx.AsyncClient:
        starlette = Starlette(routes=[Route("/items/{id}", _denied), Route("/ok", _fine)])
        starlette.add_middleware(FailureCaptureMiddleware, recorder=recorder)
        transport = httpx.ASGITransport(app=starlette, client=("10.0.0.7", 5000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    headers = {"X-Forwarded-For": "198.51.100.4", "Authorization": f"Bearer {TOKEN}", "User-Agent": "ua/9"}
    relayed = app(RelayedRecorder(unit_settings, relay=relay))
    assert (await relayed.get("/items/5", headers=headers)).status_code == 401
    assert (await relayed.get("/ok")).status_code == 200
    [entry] = relay.batch
    assert entry[0] == ASGI_FACTS

    EntryDelivery(unit_settings, recording_sink).deliver(entry)
    direct_sink = type(recording_sink)()
    await app(FailureRecorder(unit_settings, direct_sink)).get("/items/5", headers=headers)
    [through_relay], [in_process] = recording_sink.events(), direct_sink.events()
    for event in (through_relay, in_process):
        del event["event_id"], event["ts"]
    assert through_relay == in_process
    assert through_relay["reason"] == "invalid_token" and through_relay["ip"] == "198.51.100.4"


class _CountingRelay(_HeldRelay):
    """Counts what the middlewares ask of it; never starts a process."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.starts = 0
        self.waited: list[float] = []

    def start(self) -> None:
        self.starts += 1

    def wait_ready(self, timeout_s: float = 3.0) -> bool:
        self.waited.append(timeout_s)
        return True


async def test_the_relay_starts_when_the_middleware_is_built_and_a_servers_start_up_waits_for_it(
    unit_settings: Settings,
) -> None:
    relay = _CountingRelay(unit_settings)
    app = Starlette(routes=[Route("/items/{id}", _denied)])
    app.add_middleware(FailureCaptureMiddleware, recorder=RelayedRecorder(unit_settings, relay=relay))
    sent: list[dict] = []
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict:
        return next(messages)

    async def send(message: dict) -> None:
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)  # type: ignore[arg-type]
    assert relay.starts == 1 and len(relay.waited) == 1  # built at start-up, which waited for the relay
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]

    transport = httpx.ASGITransport(app=app, client=("10.0.0.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/items/1")).status_code == 401
    assert relay.starts == 2  # the first entry of a batch makes sure it runs (a forked worker's own)
    assert len(relay.batch) == 1  # and it is not shipped by the request thread


def test_the_wsgi_middleware_waits_for_the_relay_when_built(unit_settings: Settings) -> None:
    relay = _CountingRelay(unit_settings)
    FailureCaptureWSGIMiddleware(
        lambda environ, start: [], recorder=RelayedRecorder(unit_settings, relay=relay)
    )
    assert relay.waited == [READY_WAIT_S]


def test_a_lone_entry_makes_sure_the_relay_runs_and_a_full_batch_ships(unit_settings: Settings) -> None:
    relay = _CountingRelay(unit_settings)
    shipped: list[int] = []
    relay.ship_full = lambda: shipped.append(len(relay.batch)) or relay.batch.clear()  # type: ignore[method-assign,func-returns-value]
    for i in range(RELAY_BATCH + 1):
        relay.add(_asgi_entry(peer=f"10.0.0.{i % 9}"))
    assert relay.starts == 2 and shipped == [RELAY_BATCH]  # the first entry of each batch starts it
