"""Django: failures carry the resolved route, sync and async, and the middleware only observes."""

from __future__ import annotations

from typing import Any

import django
import pytest
from django.conf import settings as django_settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import path, re_path

from failstream.producer import django as failstream_django
from failstream.producer.capture_queue import flush_capture
from failstream.producer.classify import set_failure_reason
from failstream.producer.django import FailstreamMiddleware
from failstream.producer.environ_capture import EnvironCapture
from failstream.settings import Settings
from tests.unit.producer.conftest import RecordingSink

if not django_settings.configured:
    django_settings.configure(
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["testserver"],
        MIDDLEWARE=[f"{__name__}.RecordingMiddleware"],
        DEBUG=False,
        LOGGING_CONFIG=None,  # Django's request logger is the host's business here
    )
    django.setup()

SINK = RecordingSink()
SETTINGS = Settings(_env_file=None, service_name="django-unit", capture_skip_paths=("/healthz",))  # type: ignore[call-arg]


class RecordingMiddleware(FailstreamMiddleware):
    """The real middleware, its events kept in memory instead of Kafka."""

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response, capture=EnvironCapture(settings=SETTINGS, sink=SINK))  # type: ignore[arg-type]


def order(request: HttpRequest, order_id: int) -> HttpResponse:
    if order_id == 0:
        raise RuntimeError("host bug")  # Django answers 500 itself
    if "HTTP_AUTHORIZATION" in request.META:
        set_failure_reason(request.META, "expired_token")
    response = JsonResponse({"detail": "no"}, status=401)
    response["WWW-Authenticate"] = "Bearer"
    return response


async def async_order(request: HttpRequest, order_id: int) -> HttpResponse:
    return HttpResponse("slow down", status=429)


def legacy(request: HttpRequest, slug: str) -> HttpResponse:
    return HttpResponse("no", status=403)


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("down", status=503)


urlpatterns = [
    path("orders/<int:order_id>", order),
    path("async/orders/<int:order_id>", async_order),
    re_path(r"^legacy/(?P<slug>[a-z]+)/$", legacy),
    path("healthz", healthz),
]


@pytest.fixture(autouse=True)
def _empty_sink() -> None:
    assert flush_capture()
    SINK.sent.clear()


def _events() -> list[dict[str, Any]]:
    assert flush_capture()
    return SINK.events()


def test_a_failure_carries_the_route_django_resolved_and_the_response_is_untouched() -> None:
    client = Client(REMOTE_ADDR="203.0.113.9")
    response = client.get("/orders/7", HTTP_USER_AGENT="curl/8", HTTP_X_REQUEST_ID="r-1")
    assert (response.status_code, response.json(), response["WWW-Authenticate"]) == (
        401,
        {"detail": "no"},
        "Bearer",
    )
    [event] = _events()
    assert (event["route"], event["status"], event["reason"], event["method"]) == (
        "/orders/<int:order_id>",
        401,
        "missing_token",
        "GET",
    )
    assert (event["ip"], event["user_agent"], event["request_id"], event["service"]) == (
        "203.0.113.9",
        "curl/8",
        "r-1",
        "django-unit",
    )


def test_the_host_reason_a_raised_500_a_regex_route_and_an_unmatched_path() -> None:
    client = Client(raise_request_exception=False)  # as a server: the 500 Django answers
    client.get("/orders/7", HTTP_AUTHORIZATION="Bearer secret-token")
    assert client.get("/orders/0").status_code == 500
    client.get("/legacy/abc/")
    client.get("/nowhere/42")  # 404: not a failure by default
    events = _events()
    assert [(e["route"], e["status"], e["reason"]) for e in events] == [
        ("/orders/<int:order_id>", 401, "expired_token"),
        ("/orders/<int:order_id>", 500, "server_error"),
        ("^legacy/(?P<slug>[a-z]+)/$", 403, "forbidden"),
    ]
    assert "secret-token" not in str(events)


def test_skipped_paths_are_not_captured() -> None:
    assert Client().get("/healthz").status_code == 503
    assert _events() == []


def test_an_unmatched_path_is_never_recorded_raw() -> None:
    everything = SETTINGS.model_copy(update={"capture_all_4xx": True})

    class All4xx(FailstreamMiddleware):
        def __init__(self, get_response: Any) -> None:
            super().__init__(get_response, capture=EnvironCapture(settings=everything, sink=SINK))  # type: ignore[arg-type]

    globals()["All4xx"] = All4xx
    with override_settings(MIDDLEWARE=[f"{__name__}.All4xx"]):
        Client().get("/nowhere/42")
    [event] = _events()
    assert (event["route"], event["status"]) == ("<unmatched>", 404)


async def test_under_asgi_the_middleware_runs_as_a_coroutine_and_captures_the_same() -> None:
    response = await AsyncClient().get(
        "/async/orders/3", headers={"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"}
    )
    assert response.status_code == 429
    [event] = _events()
    assert (event["route"], event["status"], event["reason"], event["trace_id"]) == (
        "/async/orders/<int:order_id>",
        429,
        "rate_limited",
        "ab" * 16,
    )


def test_an_exception_that_reaches_the_middleware_is_recorded_and_re_raised() -> None:
    def broken(request: HttpRequest) -> HttpResponse:
        raise LookupError("propagated")

    middleware = RecordingMiddleware(broken)
    request = HttpRequest()
    request.method, request.path_info = "GET", "/orders/1"
    request.META.update({"REQUEST_METHOD": "GET", "REMOTE_ADDR": "203.0.113.4"})
    with pytest.raises(LookupError, match="propagated"):
        middleware(request)
    [event] = _events()
    assert (event["route"], event["status"], event["reason"]) == ("<unmatched>", 500, "server_error")


def test_settings_and_a_dotted_before_send_come_from_django_settings() -> None:
    with override_settings(
        FAILSTREAM_SETTINGS=SETTINGS, FAILSTREAM_BEFORE_SEND="tests.unit.producer.test_django.drop_all"
    ):
        settings, before_send = failstream_django._configured()
    assert settings is SETTINGS
    assert before_send is drop_all


def drop_all(event: dict[str, Any]) -> None:
    return None
