"""The decisions API on real FerretDB: the bouncer feed, the export, lifting; a real nginx enforcing it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from failstream.decisions.model import Decision, normalise_subject
from failstream.decisions.store import DecisionStore
from failstream.events import now_ms
from failstream.settings import Settings
from tests.integration.api.nginx import nginx
from tests.integration.api.support import admin_headers, read_headers
from tests.integration.services import wait_until

pytestmark = pytest.mark.integration


def decide(settings: Settings, *subjects: str, for_s: int = 3600) -> None:
    """Record decisions as the alerting process does (DecisionStore on the test's database)."""

    async def record() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_uri.get_secret_value())
        try:
            store = DecisionStore(client[settings.mongo_db])
            now = now_ms()
            for subject in subjects:
                normal = normalise_subject(subject)
                assert normal is not None
                decision = Decision(
                    subject=normal[0],
                    kind=normal[1],
                    rule="ip-failures",
                    alert_key=f"ip-failures:{subject}:1",
                    until=now + for_s * 1000,
                    decided_at=now,
                )
                assert await store.record(decision, now)
        finally:
            await client.close()

    asyncio.run(record())


def feed(api_url: str, settings: Settings, **params: Any) -> dict[str, Any]:
    response = httpx.get(f"{api_url}/api/v1/decisions", params=params, headers=read_headers(settings))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_feed_lists_the_active_decisions_in_pages_then_what_was_added_and_removed(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    decide(api_settings, "203.0.113.1", "203.0.113.2", "203.0.113.3", "2001:db8::/64", "198.51.100.9")
    listed: list[str] = []
    page = feed(api_url, api_settings, limit=2)
    listed += [d["subject"] for d in page["added"]]
    while page["more"]:
        page = feed(api_url, api_settings, limit=2, since=page["cursor"])
        listed += [d["subject"] for d in page["added"]]
    assert sorted(listed) == ["198.51.100.9", "2001:db8::/64", "203.0.113.1", "203.0.113.2", "203.0.113.3"]
    cursor = page["cursor"]
    quiet = feed(api_url, api_settings, since=cursor)
    assert quiet["removed"] == [] and quiet["more"] is False
    # what the listing replayed is already known: applying it again changes nothing
    assert {d["subject"] for d in quiet["added"]} <= set(listed)
    cursor = quiet["cursor"]

    lifted = httpx.delete(f"{api_url}/api/v1/decisions/203.0.113.2", headers=admin_headers(api_settings))
    assert lifted.status_code == 204, lifted.text
    decide(api_settings, "192.0.2.77")
    changed = feed(api_url, api_settings, since=cursor)
    assert [d["subject"] for d in changed["added"]] == ["192.0.2.77"]
    assert [(r["subject"], r["reason"]) for r in changed["removed"]] == [("203.0.113.2", "lifted")]
    assert changed["added"][0]["until"] > now_ms() and changed["added"][0]["kind"] == "ip"
    assert feed(api_url, api_settings, since=changed["cursor"])["added"] == []


def test_decisions_need_keys_and_bad_input_is_a_clear_4xx(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    decide(api_settings, "203.0.113.50")
    base = f"{api_url}/api/v1/decisions"
    assert httpx.get(base).status_code == 401
    assert httpx.get(f"{base}/export").status_code == 401
    assert httpx.delete(f"{base}/203.0.113.50", headers=read_headers(api_settings)).status_code == 403
    bad = httpx.get(base, params={"since": "nonsense"}, headers=read_headers(api_settings))
    assert bad.status_code == 422 and "since" in bad.text
    fmt = httpx.get(f"{base}/export", params={"format": "apache"}, headers=read_headers(api_settings))
    assert fmt.status_code == 422
    admin = admin_headers(api_settings)
    assert httpx.delete(f"{base}/not-an-ip", headers=admin).status_code == 422
    assert httpx.delete(f"{base}/203.0.113.51", headers=admin).status_code == 404
    assert httpx.delete(f"{base}/203.0.113.50", headers=admin).status_code == 204
    assert httpx.delete(f"{base}/203.0.113.50", headers=admin).status_code == 404  # lifted already
    prefix = "2001:db8:5::/48"
    decide(api_settings, prefix)
    assert httpx.delete(f"{base}/{prefix}", headers=admin).status_code == 204


def test_nginx_including_the_export_refuses_a_decided_ip_and_serves_another_after_a_reload(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    decided, other = "127.0.0.2", "127.0.0.3"  # all of 127/8 is loopback: real source addresses
    export_url = f"{api_url}/api/v1/decisions/export"
    with nginx() as server:
        assert server.status_from(decided) == 200  # nothing decided yet
        decide(api_settings, decided)
        exported = httpx.get(export_url, params={"format": "nginx"}, headers=read_headers(api_settings))
        assert exported.status_code == 200 and f"deny {decided};" in exported.text
        tag = exported.headers["ETag"]
        server.write_include(exported.text)
        server.reload()
        wait_until(
            lambda: server.status_from(decided) == 403, 15, f"nginx to refuse {decided} after the reload"
        )
        assert server.status_from(other) == 200

        unchanged = httpx.get(
            export_url,
            params={"format": "nginx"},
            headers={**read_headers(api_settings), "If-None-Match": tag},
        )
        assert unchanged.status_code == 304 and unchanged.content == b""

        lifted = httpx.delete(f"{api_url}/api/v1/decisions/{decided}", headers=admin_headers(api_settings))
        assert lifted.status_code == 204
        after = httpx.get(
            export_url,
            params={"format": "nginx"},
            headers={**read_headers(api_settings), "If-None-Match": tag},
        )
        assert after.status_code == 200 and decided not in after.text and after.headers["ETag"] != tag
        server.write_include(after.text)
        server.reload()
        wait_until(lambda: server.status_from(decided) == 200, 15, f"nginx to serve {decided} again")


def test_a_cursor_past_the_kept_changes_is_a_410_and_starting_over_lists_what_is_active(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    decide(api_settings, "203.0.113.60", "203.0.113.61", "203.0.113.62")
    old_cursor = "s1"
    db.decision_changes.delete_many({"_id": {"$lt": 3}})  # what the 7-day retention sweep does
    gone = httpx.get(
        f"{api_url}/api/v1/decisions", params={"since": old_cursor}, headers=read_headers(api_settings)
    )
    assert gone.status_code == 410 and "start again without since" in gone.text
    again = feed(api_url, api_settings)
    assert sorted(d["subject"] for d in again["added"]) == ["203.0.113.60", "203.0.113.61", "203.0.113.62"]
