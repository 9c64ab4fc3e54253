from __future__ import annotations

from failstream.settings import Settings


def test_retention_defaults_keep_a_90_day_window_whole_and_bound_the_rest() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.minute_counts_retention_days == 91  # the API's longest window is 90d
    assert settings.ip_stats_retention_days == 30
    assert settings.dead_letters_retention_days == 30
    assert settings.failures_retention_days == 30
    assert settings.silence_max_days == 30
