from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from failstream.api.email_day import day_bounds


def ms(y: int, m: int, d: int, hh: int = 0, mm: int = 0, tz: ZoneInfo | None = None) -> int:
    return int(datetime(y, m, d, hh, mm, tzinfo=tz or UTC).timestamp() * 1000)


def test_utc_day() -> None:
    assert day_bounds(ms(2026, 3, 8, 15, 30), ZoneInfo("UTC")) == (ms(2026, 3, 8), ms(2026, 3, 9))


def test_local_day_differs_from_the_utc_day() -> None:
    tz = ZoneInfo("America/New_York")
    # 02:00 UTC on the 9th is still the 8th in New York
    start, _ = day_bounds(ms(2026, 1, 9, 2, 0), tz)
    assert start == ms(2026, 1, 8, tz=tz)


def test_a_dst_day_is_23_hours_long() -> None:
    tz = ZoneInfo("Europe/Berlin")
    start, end = day_bounds(ms(2026, 3, 29, 12, 0), tz)  # clocks go forward this day
    assert (end - start) == 23 * 3600_000
