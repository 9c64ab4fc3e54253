"""Rule ``email-delivery``: failure ratio of email deliveries per recipient domain.

Only outcomes count (``sent`` is a success, ``failed`` and ``bounced`` are
failures; ``queued`` and ``retrying`` are not outcomes). The window is exact at
one-second resolution: per-second buckets, at most ``window_s`` of them per
domain. It fires when the window ending at the domain's newest event holds at
least ``min_volume`` outcomes and the failure share reaches ``ratio``; it
resolves once a whole window passes without a failure.

An outcome counts once per event id: a redelivered message (at or below the
last offset applied) changes nothing, and neither does a re-published copy of
a counted event (same id, new offset; ``CountedIds``). Ids are remembered
while a copy could still be accepted: the rule refuses events older than the
domain's newest minus ``grace``, so the memory spans ``grace`` of event time,
inside the ``window + grace`` its buckets span.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from failstream.stream_app.detection.counted_ids import CountedIds
from failstream.stream_app.detection.episode import Episode, bump
from failstream.stream_app.detection.notification import Notification, NotificationState, alert_key

RULE = "email-delivery"
FAILURES = frozenset({"failed", "bounced"})
OUTCOMES = FAILURES | {"sent"}
NO_EVENT = -1


@dataclass
class EmailState:
    #: last source offset applied: a redelivered message changes nothing
    offset: int = -1
    max_ts: int = NO_EVENT
    #: second -> [outcomes, failures]
    buckets: dict[int, list[int]] = field(default_factory=dict)
    episode: Episode | None = None
    #: the ids of the outcomes counted, while a copy of one could still be accepted
    counted: CountedIds = field(default_factory=CountedIds)

    def to_json(self) -> list[Any]:
        return [
            self.offset,
            self.max_ts,
            [[s, t, f] for s, (t, f) in self.buckets.items()],
            None if self.episode is None else self.episode.to_json(),
            self.counted.to_json(),
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> EmailState:
        # a state written before ids were kept has four items: it starts with none remembered
        offset, max_ts, buckets, episode, *counted = data
        return cls(
            offset,
            max_ts,
            {s: [t, f] for s, t, f in buckets},
            None if episode is None else Episode.from_json(episode),
            CountedIds.from_json(counted[0]) if counted else CountedIds(),
        )


@dataclass(frozen=True)
class EmailRatioRule:
    ratio: float
    min_volume: int
    window_ms: int
    grace_ms: int
    repeat_ms: int
    name: str = RULE

    def window_totals(self, state: EmailState) -> tuple[int, int]:
        newest = state.max_ts // 1000
        oldest = newest - self.window_ms // 1000
        total = failed = 0
        for second, (t, f) in state.buckets.items():
            if oldest < second <= newest:
                total += t
                failed += f
        return total, failed

    def observe(
        self, state: EmailState, domain: str, ts: int, status: str, service: str, event_id: str
    ) -> list[Notification]:
        """Apply one email event; a copy of an outcome already counted (same ``event_id``) changes nothing."""
        if status not in OUTCOMES or (state.max_ts != NO_EVENT and ts < state.max_ts - self.grace_ms):
            return []
        if not state.counted.add(event_id, ts):
            return []
        out: list[Notification] = []
        failure = status in FAILURES
        episode = state.episode
        if episode is not None and episode.quiet_at(ts, self.window_ms):
            out.append(self._notify(state, domain, episode, "resolved"))
            state.episode = episode = None
        state.max_ts = max(state.max_ts, ts)
        # a copy of an event older than this is refused as too late anyway
        state.counted.forget_before(state.max_ts - self.grace_ms)
        bucket = state.buckets.setdefault(ts // 1000, [0, 0])
        bucket[0] += 1
        bucket[1] += int(failure)
        oldest = state.max_ts // 1000 - self.window_ms // 1000 - self.grace_ms // 1000 - 1
        for second in [s for s in state.buckets if s < oldest]:
            del state.buckets[second]
        if episode is not None:
            if failure:
                episode.count += 1
                episode.last = max(episode.last, ts)
                bump(episode.reasons, status)
                bump(episode.services, service)
            if episode.renotify_due(ts, self.repeat_ms):
                episode.seq += 1
                episode.notified = ts
                out.append(self._notify(state, domain, episode, "renotify"))
            return out
        total, failed = self.window_totals(state)
        if total >= self.min_volume and failed >= self.ratio * total:
            episode = Episode(start=state.max_ts, first=ts, last=ts, notified=ts, count=failed)
            episode.reasons = {"failed_or_bounced": failed, "sent": total - failed}
            bump(episode.services, service)
            state.episode = episode
            out.append(self._notify(state, domain, episode, "firing"))
        return out

    def expire(self, state: EmailState, domain: str, now_ms: int) -> list[Notification]:
        episode = state.episode
        if episode is None or now_ms - episode.last < self.window_ms + self.grace_ms:
            return []
        state.episode = None
        return [self._notify(state, domain, episode, "resolved")]

    def forgettable(self, state: EmailState, now_ms: int) -> bool:
        return state.episode is None and now_ms - state.max_ts >= self.window_ms + self.grace_ms

    def _notify(
        self, state: EmailState, domain: str, episode: Episode, kind: NotificationState
    ) -> Notification:
        total, failed = self.window_totals(state)
        return Notification(
            rule=self.name,
            subject=domain,
            state=kind,
            alert_key=alert_key(self.name, domain, episode.start, kind, episode.seq),
            episode_start=episode.start,
            count=episode.count,
            threshold=self.min_volume,
            window_s=self.window_ms // 1000,
            first_seen=episode.first,
            last_seen=episode.last,
            reasons=dict(episode.reasons),
            services=dict(episode.services),
            ratio=round(failed / total, 4) if total else None,
        )
