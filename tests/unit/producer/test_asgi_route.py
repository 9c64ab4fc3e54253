"""A router that names no route (Starlette 0.37): the template is found from the endpoint and the path."""

from __future__ import annotations

from starlette.responses import PlainTextResponse
from starlette.routing import Route, Router

from failstream.producer.asgi_route import route_by_endpoint


async def orders(request: object) -> PlainTextResponse:
    return PlainTextResponse("no", status_code=401)


async def other(request: object) -> PlainTextResponse:
    return PlainTextResponse("no", status_code=401)


ROUTER = Router(
    routes=[
        Route("/other", other),
        Route("/orders/{order_id:int}", orders),
        Route("/legacy/orders/{order_id:int}", orders),  # one endpoint, two templates
    ]
)


def test_the_route_whose_endpoint_served_the_path_names_the_template() -> None:
    scope = {"endpoint": orders, "router": ROUTER, "path": "/legacy/orders/7"}
    assert route_by_endpoint(scope) == "/legacy/orders/{order_id:int}"
    assert route_by_endpoint({**scope, "path": "/orders/7"}) == "/orders/{order_id:int}"


def test_a_request_no_route_served_stays_unmatched() -> None:
    assert route_by_endpoint({"router": ROUTER, "path": "/orders/7"}) == "<unmatched>"  # a 404: no endpoint
    assert route_by_endpoint({"endpoint": orders, "path": "/orders/7"}) == "<unmatched>"  # no router
    assert route_by_endpoint({"endpoint": orders, "router": ROUTER, "path": "/elsewhere"}) == "<unmatched>"
