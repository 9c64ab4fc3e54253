"""Global spike alerts from stored minute totals, also after a replay cut their publishing off."""

from __future__ import annotations

from failstream.stream_app.mongo.failures import MinuteTotal
from failstream.stream_app.processing import spike_notification


def test_spike_fires_when_a_batch_takes_the_minute_across_the_threshold() -> None:
    note = spike_notification(MinuteTotal(60_000, before=90, after=110), threshold=100)
    assert note is not None
    assert note.alert_key == "global-spike:all:60000"
    assert note.count == 110


def test_spike_does_not_fire_again_for_a_minute_already_over_the_threshold() -> None:
    assert spike_notification(MinuteTotal(60_000, before=110, after=130), threshold=100) is None
    assert spike_notification(MinuteTotal(60_000, before=10, after=20), threshold=100) is None


def test_a_replayed_minute_over_the_threshold_fires_again_with_the_same_key() -> None:
    # the crossing batch was stored, then the persister died before publishing its alert
    note = spike_notification(MinuteTotal(60_000, before=110, after=110, replayed=True), threshold=100)
    assert note is not None
    assert note.alert_key == "global-spike:all:60000"
    assert spike_notification(MinuteTotal(60_000, before=50, after=50, replayed=True), threshold=100) is None
