"""What a fault run must leave behind, from the send times the traffic recorded.

Counts: every answered failure is stored once; a request that got no answer
(the service died under it) may or may not be; when the demo service itself
was killed, a failure answered in the last second before the kill may be
lost (its event may still have sat in the host's in-memory queue).

Alerts: the exact sliding-window oracle of ``tests.unit.stream_app.oracle``
over the send times. The demo service stamps an event's ``ts`` when it
handles the request, a few milliseconds after the client's send, so the
oracle runs over every variant (window widened and narrowed by twice
``TS_SLACK_MS``; failures that may be lost left out or kept in): an address
that fires in every variant must be emailed, one that fires in none must
not, and the traffic is shaped so that none lands in between.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from tests.faults.pipeline import GRACE_S, REPEAT_S, THRESHOLD, WINDOW_S
from tests.faults.traffic import Outcomes
from tests.unit.stream_app.oracle import threshold_oracle

#: How far an event's ts may sit from the recorded send time, either way.
TS_SLACK_MS = 1000
#: When the demo service is killed, failures answered this long before the kill may be lost.
KILL_LOSS_MS = 1000
RULE = "ip-failures"


@dataclass(frozen=True)
class Expectation:
    must_store: Counter[str]
    may_store: Counter[str]
    fire: Counter[str]  # address -> firings, in every variant
    quiet: frozenset[str]  # addresses that fire in no variant
    undecidable: frozenset[str]


def _max_in_window(times: Sequence[int], window_ms: int) -> int:
    best = start = 0
    for end, ts in enumerate(times):
        while ts - times[start] >= window_ms:
            start += 1
        best = max(best, end - start + 1)
    return best


def firings(ip: str, times: Sequence[int], window_ms: int) -> int:
    """How many episodes ``ip-failures`` starts for these send times (sorted)."""
    # the oracle is brute force (quadratic and more per address): an address that never
    # holds THRESHOLD failures in any window cannot fire, and most never come close
    if _max_in_window(times, window_ms) < THRESHOLD:
        return 0
    found = threshold_oracle(RULE, ip, times, THRESHOLD, window_ms, GRACE_S * 1000, REPEAT_S * 1000)
    return sum(1 for e in found if e.state == "firing")


def expect(outcomes: Outcomes, demo_kills_ms: Iterable[int] = ()) -> Expectation:
    kills = list(demo_kills_ms)

    def may_be_lost(answered_ms: int) -> bool:
        return any(k - KILL_LOSS_MS <= answered_ms <= k for k in kills)

    must: dict[str, list[int]] = {}
    may: dict[str, list[int]] = {}
    for ip in set(outcomes.answered) | set(outcomes.unknown):
        answered = outcomes.answered.get(ip, [])
        must[ip] = sorted(sent for sent, at in answered if not may_be_lost(at))
        may[ip] = sorted([sent for sent, _ in answered] + outcomes.unknown.get(ip, []))
    fire: Counter[str] = Counter()
    quiet, undecidable = set(), set()
    window = WINDOW_S * 1000
    for ip in must:
        variants = {
            firings(ip, times, w)
            for times in (must[ip], may[ip])
            for w in (window - 2 * TS_SLACK_MS, window + 2 * TS_SLACK_MS)
        }
        if variants == {0}:
            quiet.add(ip)
        elif len(variants) == 1:
            fire[ip] = variants.pop()
        else:
            undecidable.add(ip)
    return Expectation(
        Counter({ip: len(t) for ip, t in must.items() if t}),
        Counter({ip: len(t) for ip, t in may.items() if t}),
        fire,
        frozenset(quiet),
        frozenset(undecidable),
    )


def count_problems(stored: dict[str, int], expected: Expectation) -> dict[str, tuple[int, int, int]]:
    """Addresses whose stored total is outside [must, may]: ip -> (stored, must, may)."""
    ips = set(stored) | set(expected.may_store)
    return {
        ip: (stored.get(ip, 0), expected.must_store[ip], expected.may_store[ip])
        for ip in sorted(ips)
        if not expected.must_store[ip] <= stored.get(ip, 0) <= expected.may_store[ip]
    }


# the first line of each alert's block in an email's text part (one alert or a digest):
# "<subject> (<rule>, <severity>, <state>)"
_ALERT_LINE = re.compile(r"^(\S+) \(([a-z0-9-]+), (\w+), (firing|renotify|resolved)\)$", re.MULTILINE)


def emailed_alerts(messages: Iterable[EmailMessage]) -> list[tuple[str, str, str]]:
    """(rule, subject, state) of every alert in every email, in arrival order."""
    found = []
    for message in messages:
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content().replace("\r\n", "\n") if body is not None else ""
        found += [(m.group(2), m.group(1), m.group(4)) for m in _ALERT_LINE.finditer(text)]
    return found
