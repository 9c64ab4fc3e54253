from __future__ import annotations

import pytest

from failstream.api.params import duration_s, ip_match, parse_ip, parse_step, parse_window


def test_durations_in_all_units() -> None:
    assert [duration_s(v, "window") for v in ("30s", "15m", "2h", "7d")] == [30, 900, 7200, 604800]


@pytest.mark.parametrize("value", ["", "1", "h", "0m", "1.5h", "-1h", "1w", "1 h", "99999999d"])
def test_bad_durations_name_the_parameter(value: str) -> None:
    with pytest.raises(ValueError, match=r"^window"):
        parse_window(value)


def test_windows_and_steps_have_bounds() -> None:
    assert parse_window("1m") == "1m"
    for bad in ("59s", "91d"):
        with pytest.raises(ValueError, match="between 1m and 90d"):
            parse_window(bad)
    assert parse_step("5m") == "5m"
    for bad in ("30s", "90s", "2d"):
        with pytest.raises(ValueError, match=r"^step"):
            parse_step(bad)


def test_an_ip_matches_as_stored_and_in_canonical_form_and_bad_ones_are_named() -> None:
    assert parse_ip("10.0.0.1") == "10.0.0.1"
    assert ip_match("2001:DB8:0::1") == {"$in": ["2001:DB8:0::1", "2001:db8::1"]}
    # a dual-stack socket's peer, as the producer stores it, is found as written
    assert "::ffff:1.2.3.4" in ip_match("::ffff:1.2.3.4")["$in"]
    for bad in ("10.0.0.256", "10.0.0", "localhost", "1.2.3.4/32"):
        with pytest.raises(ValueError, match=r"^ip must be"):
            parse_ip(bad)


@pytest.mark.parametrize(
    ("spellings", "canonical"),
    [
        (("90d", "2160h", "129600m", "7776000s"), "90d"),
        (("1h", "60m", "3600s"), "1h"),
        (("36h", "2160m"), "36h"),
        (("90m", "5400s"), "90m"),
        (("1m", "60s"), "1m"),
    ],
)
def test_every_spelling_of_a_window_is_normalised_to_one(spellings: tuple[str, ...], canonical: str) -> None:
    assert {parse_window(s) for s in spellings} == {canonical}


def test_a_window_in_seconds_that_is_no_whole_minute_keeps_its_seconds() -> None:
    assert parse_window("61s") == "61s"
