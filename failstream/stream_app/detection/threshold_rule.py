"""A threshold rule: N events of a subject within any W-second span of event time.

Used for ``ip-failures`` (subject: the IP) and ``ip-route-failures`` (subject:
IP and route). Semantics, which the brute-force oracle in the tests restates:

* an event older than the subject's newest event minus ``grace`` is too late
  and ignored by detection (it is still counted in the stats);
* outside an episode, the rule fires when the accepted events since the last
  episode hold ``threshold`` events spanning less than ``window``; the episode
  starts at the earliest such window that contains the new event;
* inside an episode every event is added to its counts; an event at least
  ``repeat`` after the last notification re-notifies;
* an event that comes a whole ``window`` after the episode's last event
  resolves it first (and then counts towards a new episode); a subject with
  no event for ``window + grace`` of wall time is resolved by :meth:`expire`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from failstream.stream_app.detection.episode import Episode
from failstream.stream_app.detection.notification import Notification, NotificationState, alert_key
from failstream.stream_app.detection.sliding_window import earliest_full_window, prune_before, state_bound

NO_EVENT = -1
UNLABELLED = ("", "", "")


@dataclass
class ThresholdState:
    """Per-subject state: candidate events (sorted by time) and the open episode."""

    max_ts: int = NO_EVENT
    times: list[int] = field(default_factory=list)
    #: (reason, route, service) of each candidate, parallel to ``times``
    labels: list[tuple[str, str, str]] = field(default_factory=list)
    episode: Episode | None = None

    def is_idle(self) -> bool:
        return not self.times and self.episode is None

    def to_json(self) -> list[Any]:
        """Compact: times relative to the newest, labels as one string each, none if unlabelled."""
        labelled = self.labels.count(UNLABELLED) != len(self.labels)
        return [
            self.max_ts,
            [self.max_ts - t for t in self.times],
            ["\x1f".join(label) for label in self.labels] if labelled else [],
            None if self.episode is None else self.episode.to_json(),
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> ThresholdState:
        max_ts, times, labels, episode = data
        return cls(
            max_ts,
            [max_ts - t for t in times],
            [tuple(label.split("\x1f", 2)) for label in labels] if labels else [UNLABELLED] * len(times),  # type: ignore[misc]
            None if episode is None else Episode.from_json(episode),
        )


@dataclass(frozen=True)
class ThresholdRule:
    name: str
    threshold: int
    window_ms: int
    grace_ms: int
    repeat_ms: int

    @cached_property
    def max_candidates(self) -> int:
        return state_bound(self.threshold, self.window_ms, self.grace_ms)

    def observe(
        self, state: ThresholdState, subject: str, ts: int, reason: str, route: str, service: str
    ) -> list[Notification]:
        """Apply one accepted-or-late event to ``state``; return what it triggers."""
        max_ts = state.max_ts
        if max_ts != NO_EVENT and ts < max_ts - self.grace_ms:
            return []  # late: older than the newest event minus grace
        out: list[Notification] = []
        episode = state.episode
        if episode is not None and episode.quiet_at(ts, self.window_ms):
            out.append(self._notify(subject, episode, "resolved"))
            state.episode = episode = None
        if ts > max_ts:
            state.max_ts = ts
        if episode is not None:
            episode.add(ts, reason, route, service)
            if episode.renotify_due(ts, self.repeat_ms):
                episode.seq += 1
                episode.notified = ts
                out.append(self._notify(subject, episode, "renotify"))
            return out
        index = bisect.bisect_right(state.times, ts)
        state.times.insert(index, ts)
        state.labels.insert(index, (reason, route, service))
        start = earliest_full_window(state.times, index, self.threshold, self.window_ms)
        if start is None:
            cut = prune_before(state.times, state.max_ts - self.grace_ms - self.window_ms + 1)
            del state.labels[:cut]
            if len(state.times) > self.max_candidates:  # unreachable while the bound holds
                drop = len(state.times) - self.max_candidates
                del state.times[:drop], state.labels[:drop]
            return out
        window = range(start, start + self.threshold)
        episode = Episode(
            start=state.times[start], first=state.times[start], last=state.times[window[-1]], notified=ts
        )
        for i in window:
            episode.add(state.times[i], *state.labels[i])
        state.episode = episode
        state.times.clear()
        state.labels.clear()
        out.append(self._notify(subject, episode, "firing"))
        return out

    def expire(self, state: ThresholdState, subject: str, now_ms: int) -> list[Notification]:
        """Resolve an episode whose subject has been quiet for ``window + grace`` until ``now_ms``."""
        episode = state.episode
        if episode is None or now_ms - episode.last < self.window_ms + self.grace_ms:
            return []
        state.episode = None
        return [self._notify(subject, episode, "resolved")]

    def forgettable(self, state: ThresholdState, now_ms: int) -> bool:
        """Can this subject's state go? True once no accepted event can join it.

        ``now_ms`` is the wall clock less how far behind the subject's newest
        event was when it was applied (``FailureBatches.sweep``), so a backlog
        replayed after an outage is not forgotten between its batches.
        """
        return state.episode is None and now_ms - state.max_ts >= self.window_ms + self.grace_ms

    def _notify(self, subject: str, episode: Episode, kind: NotificationState) -> Notification:
        return Notification(
            rule=self.name,
            subject=subject,
            state=kind,
            alert_key=alert_key(self.name, subject, episode.start, kind, episode.seq),
            episode_start=episode.start,
            count=episode.count,
            threshold=self.threshold,
            window_s=self.window_ms // 1000,
            first_seen=episode.first,
            last_seen=episode.last,
            reasons=dict(episode.reasons),
            routes=dict(episode.routes),
            services=dict(episode.services),
        )
