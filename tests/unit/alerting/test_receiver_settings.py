"""FAILSTREAM_RECEIVERS: parsed like the report schedules, refused with its secrets masked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from failstream.settings import Settings


def _settings(**values: Any) -> Settings:
    """Settings as the environment gives them: FAILSTREAM_RECEIVERS is text."""
    return Settings(**values)


def _receivers(*items: dict[str, Any]) -> str:
    return json.dumps(list(items))


HOOK = {"name": "ops-hook", "kind": "webhook", "url": "https://hooks.example.com/x", "secret": "s3cr3t-key"}


def test_no_receivers_by_default_and_an_empty_variable_means_none() -> None:
    assert _settings().receivers == ()
    assert _settings(receivers="  ").receivers == ()


def test_receivers_are_read_from_json_with_routing_and_secrets_kept_secret() -> None:
    settings = _settings(
        receivers=_receivers(
            {**HOOK, "rules": ["ip-failures"], "severities": ["critical"]},
            {"name": "team-slack", "kind": "slack", "url": "https://hooks.slack.com/services/T/B/X"},
        )
    )
    hook, slack = settings.receivers
    assert (hook.kind, hook.rules, hook.severities, hook.send_resolved) == (
        "webhook",
        ("ip-failures",),
        ("critical",),
        True,
    )
    assert hook.secret.get_secret_value() == "s3cr3t-key"
    assert slack.url.get_secret_value() == "https://hooks.slack.com/services/T/B/X"
    assert "s3cr3t-key" not in repr(settings) and "services/T/B/X" not in repr(settings)


def test_receivers_survive_the_trip_to_a_child_process() -> None:
    settings = _settings(receivers=_receivers(HOOK))
    child = _settings(receivers=settings.as_env()["FAILSTREAM_RECEIVERS"])
    assert child.receivers == settings.receivers
    assert child.receivers[0].secret.get_secret_value() == "s3cr3t-key"


@pytest.mark.parametrize(
    ("item", "why"),
    [
        ({**HOOK, "url": "http://hooks.example.com/x"}, "must be https"),
        ({**HOOK, "url": "ftp://127.0.0.1/x"}, "absolute https URL"),
        ({**HOOK, "secret": ""}, "needs a 'secret'"),
        ({**HOOK, "name": "a b"}, "the name may hold"),
        ({**HOOK, "kind": "pager"}, "kind"),
        ({**HOOK, "severities": ["urgent"]}, "severities"),
    ],
)
def test_a_bad_receiver_is_refused_without_showing_its_secret(item: dict[str, Any], why: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _settings(receivers=_receivers(item))
    assert why in str(caught.value)
    assert "s3cr3t-key" not in str(caught.value)
    assert "hooks.example.com" not in str(caught.value)


def test_plain_http_is_allowed_to_loopback_only() -> None:
    for url in ("http://127.0.0.1:9000/h", "http://localhost/h", "http://[::1]:80/h"):
        assert _settings(receivers=_receivers({**HOOK, "url": url})).receivers


def test_duplicate_names_and_text_that_is_not_json_are_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError, match="names must be unique: ops-hook") as caught:
        _settings(receivers=_receivers(HOOK, {**HOOK, "kind": "slack"}))
    assert "s3cr3t-key" not in str(caught.value)
    with pytest.raises(ValidationError, match="FAILSTREAM_RECEIVERS is") as caught:
        _settings(receivers='[{"secret": "s3cr3t-key"')
    assert "s3cr3t-key" not in str(caught.value)
