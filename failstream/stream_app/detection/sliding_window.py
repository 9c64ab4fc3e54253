"""Exact sliding-window threshold detection over event time, with bounded state."""

from __future__ import annotations

import bisect
from collections.abc import Sequence


def earliest_full_window(timestamps: Sequence[int], index: int, threshold: int, window_ms: int) -> int | None:
    """Start index of the earliest ``threshold`` consecutive timestamps that span
    less than ``window_ms`` and include position ``index``; None if there is none.

    ``timestamps`` is sorted. Only windows through ``index`` are examined: the
    caller keeps the invariant that no window was full before that event came.
    """
    first = max(0, index - threshold + 1)
    last = min(index, len(timestamps) - threshold)
    for start in range(first, last + 1):
        if timestamps[start + threshold - 1] - timestamps[start] < window_ms:
            return start
    return None


def prune_before(timestamps: list[int], oldest_useful: int) -> int:
    """Drop timestamps older than ``oldest_useful``; return how many went."""
    cut = bisect.bisect_left(timestamps, oldest_useful)
    if cut:
        del timestamps[:cut]
    return cut


def state_bound(threshold: int, window_ms: int, grace_ms: int) -> int:
    """Most timestamps a quiet key can hold (no window full yet).

    Only events newer than ``max_ts - grace - window`` can share a window with
    an event still accepted, and a span of ``window`` holds at most
    ``threshold - 1`` of them while nothing fires, so a span of
    ``window + grace`` holds at most ``(threshold - 1) * ceil(1 + grace/window)``.
    In order (grace 0) that is ``threshold - 1``.
    """
    spans = 1 + -(-grace_ms // window_ms)
    return max(threshold, (threshold - 1) * spans)
