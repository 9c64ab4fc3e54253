"""Receivers besides email: a signed webhook, a Slack incoming webhook, a team's own Alertmanager.

``routing`` picks the receivers of an alert from ``FAILSTREAM_RECEIVERS``
and builds each one (``webhook``, ``slack``, ``alertmanager``, all on
``http``); ``deliveries`` is the pipeline stage that sends to them with the
same fence, retries and dead letters as the alert email. The body schemas
and the signature are documented in docs/receivers.md.
"""
