"""Enforcement of decisions in the middleware: the lookup table, failing open, the ASGI refusal."""

from __future__ import annotations

import time
from typing import Any

import pytest

from failstream.producer.classify import REASON_STATE_KEY
from failstream.producer.enforcement import DecisionFeed, DecisionTable, Enforcer
from failstream.producer.enforcement_asgi import DecisionEnforcementMiddleware
from failstream.settings import Settings
from failstream.stream_app.detection.ip_detector import Failure, IpDetector, IpState
from failstream.stream_app.detection.rules import DetectionRules


def later(seconds: float) -> int:
    return int((time.time() + seconds) * 1000)


def ready_enforcer(settings: Settings, **decisions: int | None) -> Enforcer:
    table = DecisionTable()
    feed = DecisionFeed(settings, table)
    feed.ready, feed.last_ok = True, time.monotonic()
    for subject, until in decisions.items():
        table.apply(subject.replace("_", "."), until)
    return Enforcer(settings, table, feed)


def test_the_table_holds_ips_and_prefixes_and_forgets_removed_ones() -> None:
    table = DecisionTable()
    table.apply("203.0.113.9", 5)
    table.apply("10.1.0.0/16", 6)
    table.apply("2001:db8::/64", 7)
    assert table.until("203.0.113.9") == 5
    assert table.until("10.1.255.3") == 6 and table.until("10.2.0.1") is None
    assert table.until("2001:db8::42") == 7 and table.until("2001:db9::1") is None
    assert table.until("not an ip") is None
    table.apply("10.1.0.0/16", None)
    table.apply("203.0.113.9", None)
    assert table.until("10.1.255.3") is None and table.until("203.0.113.9") is None and len(table) == 1


def test_a_decided_client_is_refused_until_its_time_and_others_are_not() -> None:
    settings = Settings(_env_file=None)
    enforcer = ready_enforcer(settings)
    enforcer.table.apply("203.0.113.9", later(90))
    enforcer.table.apply("::ffff:198.51.100.1".replace("::ffff:", ""), later(10))
    assert enforcer.retry_after("203.0.113.9", None) in (90, 91)
    assert enforcer.retry_after("::ffff:198.51.100.1", None) in (10, 11)  # a dual-stack socket's view
    assert enforcer.retry_after("203.0.113.10", None) is None
    enforcer.table.apply("203.0.113.9", later(-1))
    assert enforcer.retry_after("203.0.113.9", None) is None  # its time is up


def test_it_fails_open_before_the_feed_has_read_the_topic_and_once_it_is_stale() -> None:
    settings = Settings(_env_file=None, enforce_stale_after_s=30)
    enforcer = ready_enforcer(settings)
    enforcer.table.apply("203.0.113.9", later(60))
    assert enforcer.feed is not None
    enforcer.feed.ready = False
    assert enforcer.retry_after("203.0.113.9", None) is None
    enforcer.feed.ready = True
    enforcer.feed.last_ok = time.monotonic() - 31
    assert enforcer.retry_after("203.0.113.9", None) is None
    enforcer.feed.last_ok = time.monotonic()
    assert enforcer.retry_after("203.0.113.9", None) is not None


def test_behind_a_trusted_proxy_the_forwarded_client_is_the_one_refused() -> None:
    settings = Settings(_env_file=None, trusted_proxies="10.0.0.0/8")  # type: ignore[arg-type]
    enforcer = ready_enforcer(settings)
    enforcer.table.apply("203.0.113.9", later(60))
    assert enforcer.retry_after("10.0.0.2", "203.0.113.9") is not None
    assert enforcer.retry_after("10.0.0.2", "198.51.100.7") is None
    assert (
        enforcer.retry_after("192.0.2.1", "203.0.113.9") is None
    )  # an untrusted peer's header is not believed


def test_the_feed_applies_values_and_tombstones() -> None:
    table = DecisionTable()
    feed = DecisionFeed(Settings(_env_file=None), table)
    feed._apply(b"203.0.113.9", b'{"v":1,"subject":"203.0.113.9","until":123}')
    feed._apply(b"10.0.0.0/8", b'{"until":124}')
    feed._apply(b"198.51.100.1", b"not json")
    assert table.until("203.0.113.9") == 123 and table.until("10.9.9.9") == 124
    assert table.until("198.51.100.1") is None
    feed._apply(b"203.0.113.9", None)
    assert table.until("203.0.113.9") is None


async def call(
    app: Any, client: str, headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[list[Any], dict[str, Any]]:
    scope: dict[str, Any] = {"type": "http", "path": "/", "client": (client, 5000), "headers": headers or []}
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent, scope


async def test_the_asgi_layer_answers_a_decided_client_before_the_app_and_names_the_reason() -> None:
    ran: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ran.append(scope["client"][0])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    enforcer = ready_enforcer(Settings(_env_file=None, enforce_status=403))
    enforcer.table.apply("203.0.113.9", later(30))
    enforcer.feed = None  # no thread in a unit test
    middleware = DecisionEnforcementMiddleware(app, enforcer=enforcer)
    sent, scope = await call(middleware, "203.0.113.9")
    assert ran == []
    assert sent[0]["status"] == 403 and dict(sent[0]["headers"])[b"retry-after"] in (b"30", b"31")
    assert scope["state"][REASON_STATE_KEY] == "blocked"
    sent, scope = await call(middleware, "198.51.100.7")
    assert ran == ["198.51.100.7"] and sent[0]["status"] == 200 and "state" not in scope


def test_detection_does_not_count_blocked_requests() -> None:
    detector = IpDetector(DetectionRules.from_settings(Settings(_env_file=None, rule_ip_threshold=2)))
    state = IpState()
    blocked = [Failure(f"e{i}", 1000 + i, "203.0.113.9", "GET", "/", "blocked", "s") for i in range(5)]
    assert [n for i, f in enumerate(blocked) for n in detector.observe(state, f, i)] == []
    fired = detector.observe(state, Failure("x1", 2000, "203.0.113.9", "GET", "/", "forbidden", "s"), 10)
    fired += detector.observe(state, Failure("x2", 2001, "203.0.113.9", "GET", "/", "forbidden", "s"), 11)
    assert [n.rule for n in fired] == ["ip-failures"]


@pytest.mark.parametrize("reason", ["blocked"])
def test_blocked_is_a_reason_of_the_wire_contract(reason: str) -> None:
    from failstream import events
    from failstream.producer import reasons

    assert reason in reasons.FAILURE_REASONS and reason in events.FAILURE_REASONS


def test_the_wsgi_layer_answers_a_decided_client_before_the_app_and_names_the_reason() -> None:
    from failstream.producer.enforcement_wsgi import DecisionEnforcementWSGIMiddleware

    ran: list[str] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        ran.append(environ["REMOTE_ADDR"])
        start_response("200 OK", [])
        return [b"ok"]

    enforcer = ready_enforcer(Settings(_env_file=None))
    enforcer.table.apply("203.0.113.9", later(30))
    enforcer.feed = None
    middleware = DecisionEnforcementWSGIMiddleware(app, enforcer=enforcer)
    started: list[tuple[str, list[tuple[str, str]]]] = []
    environ: dict[str, Any] = {"REMOTE_ADDR": "203.0.113.9", "PATH_INFO": "/"}
    body = middleware(environ, lambda status, headers: started.append((status, headers)))
    assert ran == [] and b"".join(body).startswith(b"refused")
    status, headers = started[0]
    assert status == "429 Too Many Requests" and dict(headers)["Retry-After"] in ("30", "31")
    assert environ[REASON_STATE_KEY] == "blocked"
    middleware({"REMOTE_ADDR": "198.51.100.7"}, lambda status, headers: started.append((status, headers)))
    assert ran == ["198.51.100.7"] and started[-1][0] == "200 OK"


def test_the_feed_says_once_that_enforcement_is_open_and_once_that_it_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed = DecisionFeed(Settings(_env_file=None, enforce_stale_after_s=30), DecisionTable())
    feed._since, feed.last_ok, feed.ready = 100.0, 0.0, False
    with caplog.at_level("WARNING", logger="failstream.producer"):
        feed._say_reachability(120.0)  # not yet past the bound: nothing to say
        for now in (131.0, 140.0, 500.0):
            feed._say_reachability(now)
        feed.last_ok, feed.ready = 501.0, True
        feed._say_reachability(502.0)
        feed._say_reachability(503.0)
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2, said
    assert said[0].startswith("decisions topic unreachable for over 30 s: enforcement is open")
    assert said[1] == "decisions topic reachable again: enforcement is back"
