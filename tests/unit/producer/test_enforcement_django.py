"""Django: a decided client is refused before the view, and the capture records it as blocked."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from failstream.producer.capture_queue import flush_capture
from failstream.producer.enforcement import DecisionTable, Enforcer
from failstream.producer.enforcement_django import FailstreamEnforcementMiddleware
from failstream.settings import Settings
from tests.unit.producer import test_django  # configures Django for this process (once)


def enforcer_with(subject: str) -> Enforcer:
    table = DecisionTable()
    table.apply(subject, int((time.time() + 45) * 1000))
    return Enforcer(Settings(_env_file=None), table, feed=None)


@pytest.fixture(autouse=True)
def _empty_sink() -> None:
    assert flush_capture()
    test_django.SINK.sent.clear()


def test_a_decided_client_gets_429_with_retry_after_and_is_recorded_blocked_sync_and_async() -> None:
    views: list[str] = []

    def view(request: HttpRequest) -> HttpResponse:
        views.append(request.META["REMOTE_ADDR"])
        return HttpResponse("ok")

    chain = test_django.RecordingMiddleware(
        FailstreamEnforcementMiddleware(view, enforcer=enforcer_with("203.0.113.9"))
    )
    refused = chain(RequestFactory().get("/orders/7", REMOTE_ADDR="203.0.113.9"))
    served = chain(RequestFactory().get("/orders/7", REMOTE_ADDR="198.51.100.7"))
    assert (refused.status_code, served.status_code) == (429, 200)
    assert refused["Retry-After"] in ("45", "46") and views == ["198.51.100.7"]
    assert flush_capture()
    [event] = test_django.SINK.events()
    assert (event["ip"], event["status"], event["reason"]) == ("203.0.113.9", 429, "blocked")


async def test_the_async_chain_refuses_too() -> None:
    async def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    middleware = FailstreamEnforcementMiddleware(view, enforcer=enforcer_with("203.0.113.9"))
    refused: Any = await middleware(RequestFactory().get("/", REMOTE_ADDR="203.0.113.9"))
    served: Any = await middleware(RequestFactory().get("/", REMOTE_ADDR="198.51.100.7"))
    assert (refused.status_code, served.status_code) == (429, 200)


def test_without_enforce_django_leaves_it_out() -> None:
    with pytest.raises(MiddlewareNotUsed):
        FailstreamEnforcementMiddleware(lambda request: HttpResponse("ok"))
