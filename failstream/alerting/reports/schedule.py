"""Due times and periods of a report schedule, as pure functions of the schedule and a time.

Cron is evaluated on naive wall-clock time in the schedule's zone and only
then placed in the zone: croniter 5 given aware datetimes skips an hour on
the day clocks change (08:00 Berlin became 07:00 on 2024-03-31). On that
day a due time that does not exist (02:30 in spring) lands an hour later,
and one that exists twice (autumn) is sent once, at its first occurrence;
the periods still meet end to end (see ``period_ending``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from failstream.settings import ReportSchedule

_PERIOD = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


@dataclass(frozen=True)
class ReportPeriod:
    """The window ``[start, end)`` a report covers (ms, UTC); ``end`` is its due time."""

    schedule: str
    start: int
    end: int

    @property
    def key(self) -> str:
        """The send-once fence key: a schedule sends one report per period start."""
        return f"{self.schedule}:{self.start}"


def zone_of(schedule: ReportSchedule, default_tz: str) -> ZoneInfo:
    return ZoneInfo(schedule.tz or default_tz or "UTC")


def cron_of(schedule: ReportSchedule) -> str:
    if schedule.cron:
        return schedule.cron
    hour, minute = schedule.at.split(":")
    return f"{int(minute)} {int(hour)} * * *"


def _local(ms: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz).replace(tzinfo=None)


def _ms(local: datetime, tz: ZoneInfo) -> int:
    return int(local.replace(tzinfo=tz).timestamp() * 1000)


def next_due(schedule: ReportSchedule, after_ms: int, default_tz: str) -> int:
    """The first due time strictly after ``after_ms``."""
    tz = zone_of(schedule, default_tz)
    due = _ms(croniter(cron_of(schedule), _local(after_ms, tz)).get_next(datetime), tz)
    # a wall-clock time skipped by DST can map back to (or before) after_ms: step on
    return due if due > after_ms else next_due(schedule, after_ms + 60_000, default_tz)


def due_times_back(schedule: ReportSchedule, at_ms: int, default_tz: str, limit: int) -> list[int]:
    """Up to ``limit`` due times at or before ``at_ms``, newest first, without repeats."""
    tz = zone_of(schedule, default_tz)
    # +1 ms: a due time equal to at_ms counts; +1 h: inside the repeated autumn hour the
    # naive clock reads earlier than times already passed, so start past it (those
    # later than at_ms are skipped below)
    it = croniter(cron_of(schedule), _local(at_ms + 1 + 3_600_000, tz))
    found: list[int] = []
    while len(found) < limit:
        due = _ms(it.get_prev(datetime), tz)
        if due > at_ms or (found and due >= found[-1]):
            continue  # DST placed two wall-clock times on one instant
        found.append(due)
    return found


def period_ending(schedule: ReportSchedule, end_ms: int, default_tz: str) -> ReportPeriod:
    """The period that ends at ``end_ms``: an hour, or a wall-clock day or week in the zone.

    Across a DST change the periods would leave an hour that no report
    covers (a daily 02:30 moved to 03:30 in spring; an hourly cron whose
    repeated autumn hour is sent once). When the previous due time lies in
    the hour before the computed start and the zone's offset changed since,
    the period starts there instead, so consecutive reports always meet.
    """
    tz = zone_of(schedule, default_tz)
    if schedule.period == "hour":
        start = end_ms - 3_600_000
    else:
        start = _ms(_local(end_ms, tz) - _PERIOD[schedule.period], tz)
    previous = due_times_back(schedule, end_ms - 1, default_tz, 1)[0]
    if start - 3_600_000 <= previous < start and _offset(previous, tz) != _offset(end_ms, tz):
        start = previous
    return ReportPeriod(schedule.name, start, end_ms)


def _offset(ms: int, tz: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(ms / 1000, tz).utcoffset()


def previous_period(schedule: ReportSchedule, period: ReportPeriod, default_tz: str) -> ReportPeriod:
    """The period just before ``period``, for the comparison in the report."""
    return period_ending(schedule, period.start, default_tz)


def describe(period: ReportPeriod, tz: ZoneInfo) -> str:
    """``2024-05-01 08:00 to 2024-05-02 08:00 Europe/Berlin`` for subjects and bodies."""
    fmt = "%Y-%m-%d %H:%M"
    start = datetime.fromtimestamp(period.start / 1000, UTC).astimezone(tz).strftime(fmt)
    end = datetime.fromtimestamp(period.end / 1000, UTC).astimezone(tz).strftime(fmt)
    return f"{start} to {end} {tz.key}"
