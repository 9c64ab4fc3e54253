"""The report scheduler's clock: the system clock, or a test clock that starts at a set time.

``alerting_test_clock_start_ms`` is a TEST HOOK ONLY (like
``alerting_test_pause_after_claim_s``): it lets an integration test start
real alerting processes a few seconds before a chosen due time, or after
one they "missed", without waiting for a real hour to turn. Only the
report scheduler and its email records use it; alerts keep real time.
"""

from __future__ import annotations

import time

from failstream.alerting.clock import Clock, system_clock
from failstream.settings import AlertingSettings


def report_clock(settings: AlertingSettings) -> Clock:
    start_ms = settings.alerting_test_clock_start_ms
    if not start_ms:
        return system_clock
    origin = time.monotonic()

    def test_clock() -> int:
        return start_ms + int((time.monotonic() - origin) * 1000)

    return test_clock
