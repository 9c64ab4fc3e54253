"""Scheduled summary reports: one email per schedule and period, sent once by any alerting process.

``schedule`` turns a ``ReportSchedule`` setting into due times and periods
(pure), ``figures`` reads a period's numbers from MongoDB, ``render`` makes
the email, ``sender`` fences, sends and records one report through the same
stages as alerts (fence, retry, email log, email events), and ``scheduler``
is the loop inside the alerting process that finds due and missed periods.
"""
