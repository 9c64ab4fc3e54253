"""Alert emails: fenced, silenced, rate-limited, grouped, retried and logged.

``service`` consumes ``alerts`` and feeds ``pipeline``, which wires one module
per stage: ``fence`` (claim the alert key in MongoDB) -> ``silence`` ->
``ratelimit`` -> ``grouping`` -> ``render`` -> ``smtp`` + ``retry`` ->
``email_log`` / ``email_events`` / ``dead_letters``. ``redrive`` re-sends
what failed for good (``failstream alerts redrive``).

Delivery guarantee: an alert key is claimed before anything is sent and
finished after, and Kafka offsets are committed only for finished alerts,
so re-deliveries, restarts and extra processes never email it twice, and a
crash never loses it (its lease runs out and it is taken over). The one
window left is a crash after the relay accepted the message but before
``sent`` was recorded: the alert is then sent a second time after the lease,
which is the side an alerting system should err on.
"""
