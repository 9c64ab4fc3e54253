"""The route template of an ASGI request whose router did not name it (Starlette before ``scope["route"]``).

Current Starlette (and FastAPI at every release) puts the matched route in
``scope["route"]``; Starlette 0.37, for one, leaves only the endpoint and
its router there. Then the router's routes are searched for the one with
that endpoint whose pattern matches the path. Only failures without a named
route pay for it; a request that matched nothing stays ``<unmatched>``.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

UNMATCHED_ROUTE = "<unmatched>"


def route_by_endpoint(scope: MutableMapping[str, Any]) -> str:
    """The template of the router's route that served ``scope``'s endpoint, or ``<unmatched>``."""
    endpoint = scope.get("endpoint")
    router = scope.get("router")
    if endpoint is None or router is None:
        return UNMATCHED_ROUTE
    path = scope.get("path", "")
    for route in getattr(router, "routes", ()):
        if getattr(route, "endpoint", None) is not endpoint:
            continue
        pattern = getattr(route, "path_regex", None)
        template = getattr(route, "path", None)
        if template and (pattern is None or pattern.match(path)):
            return str(template)
    return UNMATCHED_ROUTE
