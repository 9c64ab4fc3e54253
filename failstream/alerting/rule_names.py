"""The stream's rule names and subject shapes, as alerting reads them off an Alert.

They mirror ``stream_app.detection.rules`` (a unit test keeps them equal):
alerting is its own process and does not import the stream worker.
"""

from __future__ import annotations

IP_RULE = "ip-failures"
IP_ROUTE_RULE = "ip-route-failures"
SPIKE_RULE = "global-spike"


def route_parts(subject: str) -> tuple[str, str]:
    """A route alert's subject ``"<ip> <method> <route>"`` -> (ip, ``"<method> <route>"``)."""
    ip, _, route = subject.partition(" ")
    return ip, route
