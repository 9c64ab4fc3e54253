"""A Django project in one file for the drop-in test: ``python django_host.py wsgi|asgi PORT``.

``wsgi``: Django's own runserver (the middleware runs sync); ``asgi``: uvicorn
serving Django's ASGI handler (the middleware runs as a coroutine).
"""

import sys

from django.conf import settings
from django.core.management import execute_from_command_line
from django.http import HttpRequest, HttpResponse
from django.urls import path


def scrub(event: dict) -> dict:
    event["user_agent"] = "scrubbed"
    return event


settings.configure(
    DEBUG=False,
    SECRET_KEY="drop-in-test",
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["failstream.producer.django.FailstreamMiddleware"],
    FAILSTREAM_BEFORE_SEND=f"{__name__}.scrub",  # a dotted path, as a settings module would name it
)


def order(request: HttpRequest, order_id: int) -> HttpResponse:
    if order_id == 0:
        raise RuntimeError("a host bug: Django answers 500")
    return HttpResponse("no", status=401)


def busy(request: HttpRequest) -> HttpResponse:
    return HttpResponse("busy", status=503)


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [
    path("orders/<int:order_id>", order),
    path("busy", busy),
    path("healthz", healthz),
]

if __name__ == "__main__":
    mode, port = sys.argv[1], sys.argv[2]
    if mode == "wsgi":
        execute_from_command_line([sys.argv[0], "runserver", "--noreload", f"127.0.0.1:{port}"])
    else:
        import uvicorn
        from django.core.asgi import get_asgi_application

        uvicorn.run(get_asgi_application(), host="127.0.0.1", port=int(port), log_level="warning")
