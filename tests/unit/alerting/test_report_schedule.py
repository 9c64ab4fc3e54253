"""Due times and periods of report schedules: cron or a time of day, in a time zone, across DST."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from failstream.alerting.reports.schedule import (
    ReportPeriod,
    due_times_back,
    next_due,
    period_ending,
    previous_period,
)
from failstream.settings import ReportSchedule


def ms(*args: int, tz: object = UTC) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp() * 1000)  # type: ignore[arg-type,misc]


def periods_meeting_end_to_end(schedule: ReportSchedule, at: int, n: int) -> list[ReportPeriod]:
    """The periods of the last ``n`` due times before ``at``, checked to leave no gap between them."""
    dues = sorted(due_times_back(schedule, at, "UTC", n))
    periods = [period_ending(schedule, due, "UTC") for due in dues]
    for before, after in itertools.pairwise(periods):
        assert before.end == after.start
    return periods


def daily_berlin() -> ReportSchedule:
    return ReportSchedule(name="daily", at="08:00", tz="Europe/Berlin", period="day")


def test_at_time_of_day_is_due_at_that_wall_clock_time_in_its_zone() -> None:
    # 08:00 Berlin is 07:00 UTC in winter
    assert next_due(daily_berlin(), ms(2024, 1, 10, 12, 0), "UTC") == ms(2024, 1, 11, 7, 0)


def test_due_time_keeps_wall_clock_time_across_the_spring_dst_change() -> None:
    # 2024-03-31 clocks go 02:00 -> 03:00 in Berlin: 08:00 CEST is 06:00 UTC
    assert next_due(daily_berlin(), ms(2024, 3, 30, 12, 0), "UTC") == ms(2024, 3, 31, 6, 0)


def test_a_day_period_is_the_wall_clock_day_so_the_dst_day_has_23_hours() -> None:
    period = period_ending(daily_berlin(), ms(2024, 3, 31, 6, 0), "UTC")
    assert period.start == ms(2024, 3, 30, 7, 0)
    assert period.end - period.start == 23 * 3_600_000


def test_cron_hourly_period_is_the_hour_before_the_due_time() -> None:
    hourly = ReportSchedule(name="hourly", cron="0 * * * *", period="hour")
    due = next_due(hourly, ms(2024, 5, 1, 10, 30), "UTC")
    assert due == ms(2024, 5, 1, 11, 0)
    period = period_ending(hourly, due, "UTC")
    assert (period.start, period.end) == (ms(2024, 5, 1, 10, 0), due)
    assert period.key == f"hourly:{ms(2024, 5, 1, 10, 0)}"


def test_next_due_is_strictly_after_the_given_time() -> None:
    hourly = ReportSchedule(name="hourly", cron="0 * * * *", period="hour")
    assert next_due(hourly, ms(2024, 5, 1, 11, 0), "UTC") == ms(2024, 5, 1, 12, 0)


def test_due_times_back_include_a_due_time_equal_to_now_newest_first() -> None:
    hourly = ReportSchedule(name="hourly", cron="0 * * * *", period="hour")
    back = due_times_back(hourly, ms(2024, 5, 1, 11, 0), "UTC", 3)
    assert back == [ms(2024, 5, 1, 11, 0), ms(2024, 5, 1, 10, 0), ms(2024, 5, 1, 9, 0)]


def test_schedule_without_tz_uses_the_default_zone() -> None:
    daily = ReportSchedule(name="daily", at="08:00", period="day")  # 12:00 UTC is 07:00 in New York
    assert next_due(daily, ms(2024, 1, 10, 12, 0), "America/New_York") == ms(2024, 1, 10, 13, 0)


def test_previous_period_ends_where_the_period_starts() -> None:
    weekly = ReportSchedule(name="weekly", cron="0 8 * * 1", tz="UTC", period="week")
    period = period_ending(weekly, ms(2024, 5, 6, 8, 0), "UTC")
    before = previous_period(weekly, period, "UTC")
    assert before.end == period.start == ms(2024, 4, 29, 8, 0)
    assert before.start == ms(2024, 4, 22, 8, 0)


def test_a_restart_inside_the_repeated_autumn_hour_still_owes_that_days_report() -> None:
    # 2024-10-27 Berlin: 03:00 CEST -> 02:00 CET; 02:30 CEST (00:30Z) happened, the
    # process came back at 01:10Z (02:10 CET, "earlier" on the naive clock)
    at_0230 = ReportSchedule(name="night", at="02:30", tz="Europe/Berlin", period="day")
    assert due_times_back(at_0230, ms(2024, 10, 27, 1, 10), "UTC", 2)[0] == ms(2024, 10, 27, 0, 30)


def test_periods_across_the_spring_gap_leave_no_hour_unreported() -> None:
    # 02:30 does not exist in Berlin on 2024-03-31: that report is due at 03:30 CEST
    at_0230 = ReportSchedule(name="night", at="02:30", tz="Europe/Berlin", period="day")
    periods_meeting_end_to_end(at_0230, ms(2024, 4, 2, 12, 0), 5)


def test_an_hourly_cron_covers_the_repeated_autumn_hour() -> None:
    hourly = ReportSchedule(name="h", cron="0 * * * *", tz="Europe/Berlin", period="hour")
    periods = periods_meeting_end_to_end(hourly, ms(2024, 10, 27, 4, 0), 6)
    # the one after the repeated hour spans two hours of real time
    assert max(p.end - p.start for p in periods) == 2 * 3_600_000
