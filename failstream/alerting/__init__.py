"""Alert emails: fenced, silenced, rate-limited, grouped, retried and logged.

``service`` consumes ``alerts`` and feeds ``pipeline``, which wires one module
per stage: ``fence`` (claim the alert key in MongoDB) -> ``details`` (labels
of route and spike alerts) -> ``silence`` -> ``inhibition`` (a route alert
folds into its IP's firing one) -> ``ratelimit`` -> ``grouping`` -> ``render`` -> ``smtp`` + ``retry`` ->
``email_log`` / ``email_events`` / ``dead_letters``; ``lease`` sizes and
renews claims, ``dependencies`` waits out outages, ``consumer`` reads Kafka.
``redrive`` re-sends what failed for good (``failstream alerts redrive``).
``decide`` turns a firing alert into a decision (``failstream.decisions``),
``decision_relay`` publishes them on the compacted ``decisions`` topic and
``decision_expiry`` removes those whose time is up (docs/decisions.md).
``receivers`` sends to a signed webhook, Slack or a team's Alertmanager
(``FAILSTREAM_RECEIVERS``), each delivery fenced, retried and dead-lettered
like the email (docs/receivers.md).

Delivery guarantee: an alert key is claimed before anything is sent and
finished after, and Kafka offsets are committed only for finished alerts,
so re-deliveries, restarts and extra processes never email it twice, and a
crash never loses it (its lease runs out and it is taken over). Outages of
MongoDB, Kafka or the relay are waited out, never a reason to exit. What can
still send an email twice (a crash after the relay accepted it and before
``sent`` was recorded, say) is listed in docs/alert-delivery.md; such a
second copy carries the same Message-ID, so receivers can drop it.
"""
