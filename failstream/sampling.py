"""Sample rates per status class: which share of a status's captured failures is sent.

``("5xx=0.1", "auth=1", "429=0.25")`` sends one 5xx failure in ten, every
401 and 403, and a quarter of the 429s; statuses not named are all sent.
Keys are a status code, ``auth`` (401 and 403) or a class (``4xx``, ``5xx``);
the most specific key wins (code, then ``auth``, then class). Stdlib only:
the settings validate with it and a middleware's import stays light. It
lives beside the settings, not in the capture library, so the server
processes reading the same settings import no capture internals.
"""

from __future__ import annotations

from collections.abc import Iterable

#: statuses of the ``auth`` key: failed authentication and refused authorisation
AUTH_STATUSES = (401, 403)

#: status code -> rate in [0, 1), for the statuses not all sent (a missing status is sent always)
SampleRates = dict[int, float]


def _rate(raw: str, text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        raise ValueError(f"capture sample rate {raw!r}: {text!r} is not a number") from None
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"capture sample rate {raw!r}: the rate must lie between 0 and 1")
    return rate


def parse_sample_rates(items: Iterable[str]) -> SampleRates:
    """``("5xx=0.1", "auth=1")`` -> the rate of every status below 1, the most specific key winning."""
    by_class: dict[int, float] = {}
    auth: float | None = None
    by_code: dict[int, float] = {}
    for raw in items:
        name, sep, value = raw.partition("=")
        key = name.strip().lower()
        if not sep:
            raise ValueError(f"capture sample rate {raw!r} is not KEY=RATE (e.g. 5xx=0.1)")
        given = _rate(raw, value.strip())
        if len(key) == 3 and key.endswith("xx") and key[0] in "12345":
            by_class[int(key[0])] = given
        elif key == "auth":
            auth = given
        elif key.isdigit() and 100 <= int(key) <= 599:
            by_code[int(key)] = given
        else:
            raise ValueError(
                f"capture sample rate {raw!r}: the key is neither a status, a class like 5xx nor auth"
            )
    rates: SampleRates = {}
    for status in range(100, 600):
        rate: float | None = by_code.get(status)
        if rate is None and status in AUTH_STATUSES:
            rate = auth
        if rate is None:
            rate = by_class.get(status // 100)
        if rate is not None and rate < 1.0:
            rates[status] = rate
    return rates
