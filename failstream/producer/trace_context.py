"""The W3C Trace Context trace id a failed request carried, so its event leads to the host's trace.

Read from the ``traceparent`` request header (W3C Trace Context, level 1:
``version-traceid-parentid-flags`` in lower-case hex). A malformed value
gives no trace id rather than a wrong one: an event with a trace id nobody
recorded sends an operator looking in vain.
"""

from __future__ import annotations

_HEX = frozenset("0123456789abcdef")
_ZERO_TRACE = "0" * 32
_ZERO_PARENT = "0" * 16


def _is_hex(text: str) -> bool:
    return _HEX.issuperset(text)


def trace_id_of(traceparent: str | None) -> str | None:
    """The 32-hex-digit trace id of a ``traceparent`` value, or None when it is absent or malformed.

    Version ``ff`` and all-zero ids are invalid (spec §3.2.2); version ``00``
    has exactly four fields, a later version may append fields after the
    flags. Repeated headers arrive joined by a comma, which no valid value
    contains, so they give None: the spec treats them as invalid too.
    """
    if not traceparent:
        return None
    parts = traceparent.strip().split("-")
    if len(parts) < 4:
        return None
    version, trace_id, parent_id, flags = parts[:4]
    if len(version) != 2 or not _is_hex(version) or version == "ff" or (version == "00" and len(parts) != 4):
        return None
    if len(trace_id) != 32 or len(parent_id) != 16 or len(flags) != 2:
        return None
    if not (_is_hex(trace_id) and _is_hex(parent_id) and _is_hex(flags)):
        return None
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_PARENT:
        return None
    return trace_id
