"""Decisions: a subject (an IP or a network prefix) with a firing alert is refused until a time.

Like CrowdSec's decisions, which bouncers enforce: alerting turns a firing
alert into a decision (``alerting.decide``), ``store`` keeps it in MongoDB
(``decisions``, one document per subject) with a change log
(``decision_changes``) that the API's bouncer feed and ``relay`` (onto the
compacted ``decisions`` topic) read in order, ``expiry`` removes the ones
whose time is up, and ``export`` renders the active ones for nginx, HAProxy
or ipset. docs/decisions.md describes the whole.
"""
