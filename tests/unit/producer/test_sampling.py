"""Sample rates per status class: parsed once, the most specific key wins, sampled-out failures counted."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from failstream.producer import capture
from failstream.producer.capture import FailureRecorder
from failstream.sampling import parse_sample_rates
from failstream.settings import Settings
from tests.unit.producer.conftest import RecordingSink


def test_the_most_specific_key_wins_and_statuses_not_named_are_all_sent() -> None:
    rates = parse_sample_rates(["5xx=0.1", "503=0.5", "4xx=0.25", "auth=1", "429=0"])
    assert rates[500] == 0.1 and rates[599] == 0.1
    assert rates[503] == 0.5
    assert rates[404] == 0.25 and rates[429] == 0.0
    assert 401 not in rates and 403 not in rates  # auth=1 beats 4xx=0.25: sent always
    assert 200 not in rates and 302 not in rates
    assert parse_sample_rates([]) == {}


@pytest.mark.parametrize("entry", ["5xx", "5xx=2", "5xx=-0.1", "5xx=often", "6xx=0.1", "600=0.1", "teapot=1"])
def test_an_entry_that_means_nothing_is_refused_at_start_up(entry: str) -> None:
    with pytest.raises(ValueError, match="capture sample rate"):
        parse_sample_rates([entry])
    with pytest.raises(ValidationError):
        Settings(_env_file=None, capture_sample_rates=entry)  # type: ignore[call-arg]


def test_the_setting_reads_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAILSTREAM_CAPTURE_SAMPLE_RATES", "5xx=0.1, auth=1")
    assert Settings(_env_file=None).capture_sample_rates == ("5xx=0.1", "auth=1")  # type: ignore[call-arg]


def _discarded(cause: str, status: int, service: str) -> float:
    labels = {"cause": cause, "status": str(status), "service": service}
    return REGISTRY.get_sample_value("failstream_producer_discarded_events_total", labels) or 0.0


def _fail(recorder: FailureRecorder, status: int) -> None:
    recorder.record("203.0.113.1", None, None, "GET", "/r", status, False, None, "", "")


def test_failures_of_a_sampled_status_are_sent_at_its_rate_and_the_rest_counted(
    unit_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = unit_settings.model_copy(
        update={"service_name": "sampled", "capture_sample_rates": ("5xx=0.25", "auth=0")}
    )
    draws = iter([0.1, 0.3, 0.24, 0.9] * 25)  # the rate decides: a draw below 0.25 is sent
    monkeypatch.setattr(capture, "_random", lambda: next(draws))
    sink = RecordingSink()
    recorder = FailureRecorder(settings, sink)  # type: ignore[arg-type]
    before_500, before_401 = (
        _discarded("sampled_out", 500, "sampled"),
        _discarded("sampled_out", 401, "sampled"),
    )
    for _ in range(100):
        _fail(recorder, 500)
    for _ in range(7):
        _fail(recorder, 401)  # auth=0: never sent, no draw taken
    _fail(recorder, 429)  # not named: always sent, no draw taken
    assert [e["status"] for e in sink.events()].count(500) == 50
    assert [e["status"] for e in sink.events()].count(401) == 0
    assert [e["status"] for e in sink.events()].count(429) == 1
    assert _discarded("sampled_out", 500, "sampled") - before_500 == 50
    assert _discarded("sampled_out", 401, "sampled") - before_401 == 7
