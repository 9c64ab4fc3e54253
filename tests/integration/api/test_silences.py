"""Silences made through the API are the documents alerting's "mutes?" predicate reads."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from failstream.alerting.silence import mutes
from failstream.events import Alert, now_ms
from failstream.settings import Settings
from tests.integration.api.support import admin_headers, running_api

pytestmark = pytest.mark.integration


def _alert(subject: str, rule: str = "ip-failures") -> Alert:
    now = now_ms()
    return Alert(
        event_id="e1", ts=now, alert_key=f"{rule}:{subject}:1", rule=rule, subject=subject,
        episode_start=now, count=5, threshold=5, window_s=600, first_seen=now, last_seen=now,
    )  # fmt: skip


def test_create_list_delete_and_alerting_honours_the_stored_silence(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    admin = admin_headers(api_settings)
    created = httpx.post(
        f"{api_url}/api/v1/silences",
        json={"subject": "203.0.113.7", "reason": "pentest", "created_by": "ops", "duration_s": 3600},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    silence = created.json()
    assert silence["active"] and silence["until"] - silence["created_at"] == 3_600_000

    stored = db.silences.find_one({"_id": silence["id"]})
    assert mutes(stored, _alert("203.0.113.7"), now_ms())
    assert not mutes(stored, _alert("203.0.113.8"), now_ms())

    expired = {"_id": "old", "subject": "x", "created_at": 1, "until": 2}
    db.silences.insert_one(expired)
    active = httpx.get(f"{api_url}/api/v1/silences", headers=admin).json()
    assert [s["id"] for s in active["items"]] == [silence["id"]]
    everything = httpx.get(
        f"{api_url}/api/v1/silences", params={"include_expired": True}, headers=admin
    ).json()
    assert [s["id"] for s in everything["items"]] == [silence["id"], "old"]

    assert httpx.delete(f"{api_url}/api/v1/silences/{silence['id']}", headers=admin).status_code == 204
    assert db.silences.find_one({"_id": silence["id"]}) is None
    again = httpx.delete(f"{api_url}/api/v1/silences/{silence['id']}", headers=admin)
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"duration_s": 60}, "subject"),
        ({"subject": "a", "until": 1}, "until"),
        ({"subject": "a"}, "until"),
        ({"subject": "a", "duration_s": 60, "until": 9_999_999_999_999}, "until"),
        ({"subject": "a", "duration_s": -5}, "duration_s"),
        ({"subject": "a", "duration_s": 60, "colour": "red"}, "colour"),
    ],
)
def test_invalid_silence_is_422_naming_the_field(
    api_settings: Settings, api_url: str, db: Any, body: dict[str, Any], name: str
) -> None:
    response = httpx.post(f"{api_url}/api/v1/silences", json=body, headers=admin_headers(api_settings))
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == name
    assert db.silences.count_documents({}) == 0


DAY_MS = 86_400_000


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"subject": "a", "until": now_ms() - 1000}, "until"),
        ({"subject": "a", "until": now_ms() + 31 * DAY_MS}, "until"),
        ({"subject": "a", "until": 2**53 - 1}, "until"),
        ({"subject": "a", "duration_s": 30 * 86400 + 1}, "duration_s"),
    ],
    ids=["until-in-the-past", "until-beyond-30-days", "until-2^53", "duration-beyond-30-days"],
)
def test_silence_in_the_past_or_beyond_the_maximum_is_422_naming_the_field(
    api_settings: Settings, api_url: str, db: Any, body: dict[str, Any], name: str
) -> None:
    response = httpx.post(f"{api_url}/api/v1/silences", json=body, headers=admin_headers(api_settings))
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", name]
    assert db.silences.count_documents({}) == 0


def test_maximum_silence_is_a_setting_and_a_silence_up_to_it_is_accepted(
    api_settings: Settings, db: Any
) -> None:
    one_day = api_settings.model_copy(update={"silence_max_days": 1})
    with running_api(one_day) as url:
        post = lambda body: httpx.post(f"{url}/api/v1/silences", json=body, headers=admin_headers(one_day))  # noqa: E731
        assert post({"subject": "a", "duration_s": 86400}).status_code == 201
        assert post({"subject": "a", "until": now_ms() + DAY_MS - 5000}).status_code == 201
        too_long = post({"subject": "a", "duration_s": 86401})
        assert too_long.status_code == 422 and "1 days" in too_long.json()["detail"][0]["msg"]
    assert db.silences.count_documents({}) == 2


def test_silence_records_which_key_created_it_and_when_never_the_key(api_settings: Settings, db: Any) -> None:
    keys = api_settings.model_copy(
        update={
            "api_admin_keys": (SecretStr("first-admin-key-0123456789"), SecretStr("second-admin-key-98765"))
        }
    )
    with running_api(keys) as url:
        before = now_ms()
        made = [
            httpx.post(
                f"{url}/api/v1/silences",
                json={"subject": "203.0.113.9", "duration_s": 600},
                headers={"X-API-Key": key},
            ).json()
            for key in ("first-admin-key-0123456789", "second-admin-key-98765")
        ]
        listed = httpx.get(f"{url}/api/v1/silences", headers={"X-API-Key": "second-admin-key-98765"}).json()
    expected = [
        hashlib.sha256(k.encode()).hexdigest()[:12]
        for k in ("first-admin-key-0123456789", "second-admin-key-98765")
    ]
    assert [m["created_by_key"] for m in made] == expected
    assert {s["created_by_key"] for s in listed["items"]} == set(expected)
    stored = list(db.silences.find())
    assert sorted(d["created_by_key"] for d in stored) == sorted(expected)
    assert all(before <= d["created_at"] <= now_ms() for d in stored)
    assert "admin-key" not in repr(stored)


def test_a_silence_of_an_address_or_prefix_is_stored_as_alerts_spell_it_and_mutes_them(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    admin = admin_headers(api_settings)
    for typed, spelt in (("2001:DB8:1:2:0::/64", "2001:db8:1:2::/64"), ("2001:0DB8::0001", "2001:db8::1")):
        created = httpx.post(
            f"{api_url}/api/v1/silences", json={"subject": typed, "duration_s": 600}, headers=admin
        )
        assert created.status_code == 201, created.text
        assert created.json()["subject"] == spelt
        stored = db.silences.find_one({"_id": created.json()["id"]})
        assert mutes(stored, _alert(spelt, "prefix-failures" if "/" in spelt else "ip-failures"), now_ms())

    domain = httpx.post(
        f"{api_url}/api/v1/silences", json={"subject": "Example.COM", "duration_s": 600}, headers=admin
    )
    assert domain.status_code == 201 and domain.json()["subject"] == "Example.COM"  # not an address: as given

    host_bits = httpx.post(
        f"{api_url}/api/v1/silences", json={"subject": "2001:db8:1:2::5/64", "duration_s": 600}, headers=admin
    )
    assert host_bits.status_code == 422
    assert "host bits" in host_bits.text and "2001:db8:1:2::/64" in host_bits.text
