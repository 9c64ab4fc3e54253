"""Query and path parameters, validated where they enter.

Each parser raises ``ValueError`` with a message that names the parameter, so a
bad value becomes a 422 that says what to fix (see ``api.errors``), never a 500
from deeper down.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, NoReturn

from fastapi import Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator

from failstream.api import pagination
from failstream.settings import ApiSettings

_DURATION = re.compile(r"^([1-9][0-9]{0,6})([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_POINTS = 1440


def duration_s(value: str, name: str) -> int:
    """``"15m"`` -> 900; s, m, h and d units."""
    match = _DURATION.match(value)
    if not match:
        raise ValueError(
            f"{name} must be a number and a unit s, m, h or d, like 15m, 1h or 7d; got {value!r}"
        )
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def canonical_duration(seconds: int) -> str:
    """The one spelling of a duration: its largest whole unit (7200 -> "2h", 2160h -> "90d")."""
    for unit in ("d", "h", "m"):
        if seconds % _UNIT_S[unit] == 0:
            return f"{seconds // _UNIT_S[unit]}{unit}"
    return f"{seconds}s"


def parse_window(value: str) -> str:
    """The window in its canonical spelling, so ``90d``, ``2160h`` and ``129600m`` are
    one question to the stats cache (one computation), not three."""
    seconds = duration_s(value, "window")
    if seconds < 60 or seconds > 90 * 86400:
        raise ValueError(f"window must be between 1m and 90d; got {value!r}")
    return canonical_duration(seconds)


def parse_step(value: str) -> str:
    seconds = duration_s(value, "step")
    if seconds % 60 or seconds > 86400:
        raise ValueError(
            f"step must be whole minutes between 1m and 1d (counts are kept per minute); got {value!r}"
        )
    return value


def parse_ip(value: str) -> str:
    """``value`` if it is an IPv4/IPv6 address; else a ValueError naming the parameter."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"ip must be an IPv4 or IPv6 address; got {value[:100]!r}") from None
    return value


def parse_subject(value: str) -> str:
    """An address (``parse_ip``) or a network prefix, the subject of ``prefix-failures`` alerts."""
    if "/" not in value:
        return parse_ip(value)
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(
            f"ip must be an IPv4 or IPv6 address or a network prefix without host bits, "
            f"like 2001:db8:1:2::/64; got {value[:100]!r}"
        ) from None
    return value


def canonical_subject(value: str) -> str:
    """An address or network prefix spelt as alerts spell it (Python's canonical text); else ``value``.

    A silence is matched to alerts by equal subject, and the pipeline writes
    addresses and prefixes canonically: ``2001:DB8:1:2:0::/64`` typed by
    on-call must still mute ``2001:db8:1:2::/64``. A prefix with host bits
    names no alert subject, so it is refused. Other subjects (an email
    domain) are kept as given.
    """
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return value
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(
            f"subject {value[:100]!r} has host bits set: a prefix alert's subject is {network}"
        ) from None
    return str(network)


def is_prefix(subject: str) -> bool:
    return "/" in subject


def ip_match(value: str) -> dict[str, list[str]]:
    """A query value matching the address (or prefix) as asked and in canonical form.

    Events store the address as the producer saw it (``::ffff:1.2.3.4`` from a
    dual-stack socket, which Python writes canonically as ``::ffff:102:304``),
    so either spelling must find it; a prefix subject is always canonical.
    """
    canonical = ipaddress.ip_network(value) if is_prefix(value) else ipaddress.ip_address(value)
    return {"$in": sorted({value, str(canonical)})}


def _label(name: str, max_length: int = 200) -> AfterValidator:
    def check(value: str) -> str:
        if not value or len(value) > max_length or any(ord(c) < 32 for c in value):
            raise ValueError(f"{name} must be 1 to {max_length} printable characters")
        return value

    return AfterValidator(check)


WindowParam = Annotated[
    str,
    AfterValidator(parse_window),
    Query(
        description=(
            "length of the window ending now: 1m..90d, like 15m, 1h, 24h, 7d; answered in its "
            "canonical spelling (2160h is 90d)"
        ),
        examples=["1h"],
        pattern=r"^[1-9][0-9]{0,6}[smhd]$",
    ),
]
StepParam = Annotated[
    str,
    AfterValidator(parse_step),
    Query(
        description="bucket size, whole minutes (1m..1d)", examples=["5m"], pattern=r"^[1-9][0-9]{0,6}[smhd]$"
    ),
]
TimeParam = Annotated[
    int | None,
    Query(ge=0, lt=2**53, description="end, epoch milliseconds, UTC (default: now)"),
]
FromParam = Annotated[
    int | None,
    Query(alias="from", ge=0, lt=2**53, description="start, epoch milliseconds, UTC (default: to - 1h)"),
]
IpPath = Annotated[
    str,
    AfterValidator(parse_subject),
    Path(
        description="IPv4 or IPv6 address, or a prefix an alert names (2001:db8:1:2::/64, the / encoded)",
        examples=["203.0.113.7"],
    ),
]
IpQuery = Annotated[
    str | None,
    AfterValidator(lambda v: v if v is None else parse_ip(v)),
    Query(description="exact IP address"),
]
ServiceQuery = Annotated[str | None, _label("service"), Query(description="service name")]
CursorQuery = Annotated[
    str | None,
    Query(description="next_cursor of the previous page; omit for the first page", max_length=1024),
]


async def limit_param(
    request: Request, limit: Annotated[int, Query(ge=1, description="page size")] = 50
) -> int:
    """``limit`` capped by ``settings.api_max_page_limit`` (a bigger one is refused, not silently cut).

    ``async`` though it awaits nothing: FastAPI runs a plain ``def`` dependency in its thread
    pool, a hand-over to another thread and back on every page request.
    """
    cap = request.app.state.settings.api_max_page_limit
    if limit > cap:
        raise_param_error("limit", f"limit must be at most {cap}; got {limit}")
    return limit


LimitParam = Annotated[int, Depends(limit_param)]


def position_of(kind: str, cursor: str | None) -> pagination.Position | None:
    """The decoded cursor, or a 422 naming ``cursor``."""
    if cursor is None:
        return None
    try:
        return pagination.decode(kind, cursor)
    except pagination.CursorError as exc:
        raise_param_error("cursor", f"cursor is invalid: {exc}")


def raise_param_error(name: str, message: str) -> NoReturn:
    """A 422 in FastAPI's own validation-error shape, so clients parse one format."""
    raise RequestValidationError([{"loc": ("query", name), "msg": message, "type": "value_error"}])


def raise_body_error(name: str, message: str) -> NoReturn:
    raise RequestValidationError([{"loc": ("body", name), "msg": message, "type": "value_error"}])


def settings_of(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings
