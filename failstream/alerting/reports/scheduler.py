"""The report loop inside the alerting process: send each schedule's due and missed periods.

Every process runs it; the fence in ``sender`` lets one of them send each
period. At start-up each schedule looks back for periods that fell due while
no process ran (at most ``report_catchup_periods``, never before the schedule
was first seen, recorded in ``report_schedules``), so a restart across a due
time sends the report late instead of skipping it, and finished periods are
skipped. A failing tick (MongoDB away) is logged and retried: reports must
never stop the alert path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pymongo.errors import DuplicateKeyError

from failstream.alerting.clock import Clock, Sleep, system_sleep
from failstream.alerting.dependencies import mongodb
from failstream.alerting.email_events import EmailEventPublisher
from failstream.alerting.fence import TERMINAL
from failstream.alerting.reports.clock import report_clock
from failstream.alerting.reports.schedule import ReportPeriod, due_times_back, next_due, period_ending
from failstream.alerting.reports.sender import ReportSender, build_report_sender
from failstream.alerting.store import Database
from failstream.mongo_outage import is_mongo_outage
from failstream.settings import AlertingSettings, ReportSchedule

log = logging.getLogger("failstream.alerting.reports")

#: Longest sleep between looks at the clock (a period held by another process is looked at again).
TICK_S = 2.0


def definition(schedule: ReportSchedule) -> str:
    """What decides a schedule's periods: a change makes it a new schedule with no backlog."""
    return f"{schedule.cron or schedule.at}|{schedule.tz}|{schedule.period}"


async def first_seen(db: Database, schedule: ReportSchedule, now: int) -> int:
    """When any process first ran this schedule as defined now: no report is owed before it.

    A schedule edited under the same name (08:00 -> 09:00, another zone or
    period) has periods no stored report matches; counting from its old
    first run would send a day's worth of catch-up reports for days that
    were already reported.
    """
    name, current = schedule.name, definition(schedule)
    try:
        await db.report_schedules.insert_one({"_id": name, "first_seen": now, "definition": current})
        return now
    except DuplicateKeyError:
        doc = await db.report_schedules.find_one({"_id": name}) or {}
    if doc.get("definition", current) == current:
        return int(doc.get("first_seen", now))
    # several processes may restart with the edit at once: the first one's time stands
    await db.report_schedules.update_one(
        {"_id": name, "definition": doc.get("definition")},
        {"$set": {"first_seen": now, "definition": current}},
    )
    fresh = await db.report_schedules.find_one({"_id": name}) or {}
    return int(fresh.get("first_seen", now))


class ReportScheduler:
    def __init__(self, settings: AlertingSettings, db: Database, sender: ReportSender, clock: Clock) -> None:
        self._settings = settings
        self._db = db
        self._sender = sender
        self._clock = clock
        #: per schedule, the oldest due time not yet known to be finished
        self._next: dict[str, int] = {}

    def _period(self, schedule: ReportSchedule, due: int) -> ReportPeriod:
        return period_ending(schedule, due, self._settings.report_timezone)

    async def start(self) -> None:
        """Find each schedule's first open period: a missed one, or else the next due time."""
        tz = self._settings.report_timezone
        limit = self._settings.report_catchup_periods
        for schedule in self._settings.report_schedules:
            if schedule.name in self._next:
                continue  # started on an earlier tick (another schedule failed then)
            try:
                await self._start_one(schedule, tz, limit)
            except Exception as exc:  # one schedule's trouble must not keep the others from running
                if is_mongo_outage(exc):
                    mongodb().down(exc)
                else:
                    log.exception("report %s: could not start; trying again next tick", schedule.name)

    async def _start_one(self, schedule: ReportSchedule, tz: str, limit: int) -> None:
        now = self._clock()
        since = await first_seen(self._db, schedule, now)
        owed = [d for d in due_times_back(schedule, now, tz, limit + 1) if d >= since]
        if len(owed) > limit:
            log.warning(
                "report %s: periods due at or before %d were missed and are not sent "
                "(FAILSTREAM_REPORT_CATCHUP_PERIODS=%d)",
                schedule.name,
                owed[limit],
                limit,
            )
            owed = owed[:limit]
        keys = [self._period(schedule, d).key for d in owed]
        done = {
            str(doc["_id"])
            async for doc in self._db.reports.find(
                {"_id": {"$in": keys}, "status": {"$in": sorted(TERMINAL)}}, {"_id": 1}
            )
        }
        open_dues = [d for d, k in zip(owed, keys, strict=True) if k not in done]
        self._next[schedule.name] = min(open_dues) if open_dues else next_due(schedule, now, tz)

    def _settle_ms(self) -> int:
        return int(self._settings.report_settle_s * 1000)

    async def tick(self) -> bool:
        """Send every period due (and settled) by now, oldest first; True to look again soon.

        True when a period is held by another process, or was given up
        (lease lost, or an error): it gets sent by someone, or retried here.
        One schedule's failure never keeps the others from sending.
        """
        tz = self._settings.report_timezone
        again = False
        for schedule in self._settings.report_schedules:
            due = self._next.get(schedule.name)
            while due is not None and due + self._settle_ms() <= self._clock():
                try:
                    outcome = await self._sender.send(schedule, self._period(schedule, due))
                except Exception as exc:
                    if is_mongo_outage(exc):  # said once by the dependency, not in a traceback per tick
                        mongodb().down(exc)
                    else:
                        log.exception(
                            "report %s due at %d: not sent; trying again next tick", schedule.name, due
                        )
                    again = True
                    break
                if outcome.status in ("held", "abandoned"):
                    again = True  # another process sends it, or its lease runs out and we take it
                    break
                due = next_due(schedule, due, tz)
                self._next[schedule.name] = due
        return again

    def seconds_until_due(self) -> float:
        if not self._next:
            return TICK_S
        return max(min(self._next.values()) + self._settle_ms() - self._clock(), 0) / 1000

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            wait = TICK_S
            try:
                await self.start()  # no-op for schedules already started
                again = await self.tick()
                wait = TICK_S if again else min(self.seconds_until_due(), TICK_S)
            except Exception as exc:  # never a tight loop, never the end of alerting
                if is_mongo_outage(exc):
                    mongodb().down(exc)
                else:
                    log.exception("report scheduler: tick failed; trying again in %.0fs", TICK_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)


async def run_reports(
    settings: AlertingSettings,
    db: Database,
    events: EmailEventPublisher,
    owner: str,
    stop: asyncio.Event,
    sleep: Sleep = system_sleep,
) -> None:
    """The alerting service's hook: returns at once without schedules, else when ``stop`` is set."""
    if not settings.report_schedules:
        return
    clock = report_clock(settings)
    sender = build_report_sender(settings, db, events, owner, clock, sleep)
    names = ", ".join(s.name for s in settings.report_schedules)
    log.info("report schedules: %s", names)
    await ReportScheduler(settings, db, sender, clock).run(stop)
