from __future__ import annotations

import pytest

from failstream.producer.policy import CapturePolicy, parse_statuses


def test_default_policy_captures_401_403_429_and_5xx_only() -> None:
    policy = CapturePolicy.build(service="s")
    assert [s for s in (200, 302, 400, 401, 403, 404, 422, 429, 500, 503) if policy.is_failure(s)] == [
        401,
        403,
        429,
        500,
        503,
    ]


def test_all_4xx_adds_every_client_error() -> None:
    policy = CapturePolicy.build(service="s", all_4xx=True)
    assert policy.is_failure(404) and policy.is_failure(422) and not policy.is_failure(302)


def test_explicit_statuses_replace_the_default_rule() -> None:
    policy = CapturePolicy.build(service="s", statuses=["401", "5xx"])
    assert policy.is_failure(401) and policy.is_failure(599)
    assert not policy.is_failure(403) and not policy.is_failure(429)


def test_a_bad_status_entry_is_rejected_at_start_up() -> None:
    with pytest.raises(ValueError, match="neither a status code"):
        parse_statuses(["40x1"])


def test_skip_paths_are_exact_unless_they_end_in_a_star() -> None:
    policy = CapturePolicy.build(service="s", skip_paths=["/healthz", "/static/*"])
    assert policy.skips("/healthz") and policy.skips("/static/app.js")
    assert not policy.skips("/healthz/deep") and not policy.skips("/api")
