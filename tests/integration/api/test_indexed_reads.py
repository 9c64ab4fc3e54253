"""The API's reads as indexed lookups: per-IP pages, a top IP's latest alert, pushed down on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient

from failstream.api.indexes import ensure_api_indexes
from failstream.api.pagination import Position, before, with_position
from failstream.events import now_ms
from failstream.infra import postgres
from failstream.settings import Settings
from failstream.stream_app.mongo.client import ensure_indexes
from tests.integration.api.support import failure, get, persist
from tests.integration.throwaway import ThrowawayFerretDB

pytestmark = pytest.mark.integration


def _alert(subject: str, status: str, created_at: int, *, state: str = "firing") -> dict[str, Any]:
    key = f"ip-failures:{subject}:{created_at}"
    return {
        "_id": key,
        "alert_key": key,
        "rule": "ip-failures",
        "subject": subject,
        "state": state,
        "severity": "warning",
        "count": 5,
        "status": status,
        "created_at": created_at,
    }


def test_a_top_ip_whose_alert_is_older_than_the_recent_alerts_list_shows_that_alert(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    now = now_ms()
    persist(api_settings, [failure(now - 1000 - i, "198.51.100.7", i) for i in range(6)])
    persist(api_settings, [failure(now - 1000 - i, "198.51.100.8", i) for i in range(3)], offset0=100)
    # the IP's episode: fired long ago and sent, then resolved; then 60 newer alerts of other IPs
    db.alerts.insert_many(
        [
            _alert("198.51.100.7", "sent", now - 3_600_000),
            _alert("198.51.100.7", "sent", now - 1_800_000, state="resolved"),
            *(_alert(f"203.0.113.{i}", "sent", now - 60_000 + i) for i in range(60)),
        ]
    )
    recent = get(api_url, "/api/v1/alerts", api_settings, limit=50).json()["items"]
    assert "198.51.100.7" not in {a["subject"] for a in recent}  # what the page used to rely on

    top = {
        t["ip"]: t for t in get(api_url, "/api/v1/stats/summary", api_settings, window="1h").json()["top_ips"]
    }

    assert top["198.51.100.7"]["alert"]["state"] == "resolved"
    assert top["198.51.100.7"]["alert"]["status"] == "sent"
    assert top["198.51.100.7"]["alert"]["created_at"] == now - 1_800_000
    assert top["198.51.100.8"]["alert"] is None  # never alerted


def test_an_address_stored_in_two_spellings_pages_as_one_newest_first(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    now = now_ms()
    mapped, canonical = "::ffff:192.0.2.9", "::ffff:c000:209"
    persist(api_settings, [failure(now - 10 * i, mapped if i % 2 else canonical, i) for i in range(7)])
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"ip": mapped, "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = get(api_url, "/api/v1/failures", api_settings, **params).json()
        seen += [item["ts"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [now - 10 * i for i in range(7)]
    detail = get(api_url, f"/api/v1/ips/{mapped}", api_settings, recent=5).json()
    assert [f["ts"] for f in detail["recent_failures"]] == [now - 10 * i for i in range(5)]


@pytest.fixture
def postgresql_ferretdb(settings: Settings, tmp_path: Path) -> Iterator[ThrowawayFerretDB]:
    own = ThrowawayFerretDB(settings.model_copy(update={"infra_ferretdb_backend": "postgresql"}), tmp_path)
    own.start()
    yield own
    own.stop()


def _create_indexes(ferretdb: ThrowawayFerretDB, settings: Settings) -> None:
    """The stream app's and the API's indexes, as each creates them at start-up."""

    async def create() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            ferretdb.settings.mongo_uri.get_secret_value()
        )
        await ensure_indexes(client[settings.mongo_db])
        assert await ensure_api_indexes(client[settings.mongo_db])
        await client.close()

    asyncio.run(create())


def test_every_lookup_by_ip_or_subject_is_an_index_scan_on_the_postgresql_backend(
    postgresql_ferretdb: ThrowawayFerretDB, settings: Settings
) -> None:
    """What makes /ips/{ip}, /failures and the top IPs' alerts independent of the stored count."""
    _create_indexes(postgresql_ferretdb, settings)
    client: MongoClient[dict[str, Any]] = MongoClient(
        postgresql_ferretdb.settings.mongo_uri.get_secret_value()
    )
    db = client[settings.mongo_db]
    db.failures.insert_many(
        [
            {
                "_id": f"e{i}",
                "ip": f"10.0.{i % 50}.1",
                "ts": i,
                "second": i - i % 1000,
                "tenth": i - i % 100,
                "reason": "forbidden",
            }
            for i in range(5000)
        ]
    )
    db.minute_counts.insert_many(
        [
            {"_id": f"{m}:failures:p0", "minute": m, "source": "failures", "total": 1}
            for m in range(0, 300_000_000, 60_000)
        ]
    )
    db.ip_stats.insert_many([{"_id": f"10.0.{i}.1", "total": 1, "last_seen": i} for i in range(5000)])
    db.alerts.insert_many([{"_id": f"a{i}", "subject": f"10.0.{i}.1", "created_at": i} for i in range(5000)])
    later_page = with_position({"ip": "10.0.7.1"}, before(Position(4000, "e4000"), "ts"))
    lookups = [
        ("failures", {"ip": "10.0.7.1"}),
        ("failures", later_page),
        ("ip_stats", {"_id": "10.0.7.1"}),
        # a page of all failures, read second by second (api.failure_walk)
        ("failures", {"second": 4000, "reason": "forbidden"}),
        ("failures", with_position({"second": 4000}, before(Position(4500, "e4500"), "ts"))),
        ("failures", with_position({"tenth": 4500}, before(Position(4550, "e4550"), "ts"))),
        ("minute_counts", {"minute": 120_000, "source": "failures"}),
        ("alerts", {"subject": "10.0.7.1"}),
    ]
    for collection, query in lookups:
        explain = db.command("explain", {"find": collection, "filter": query, "sort": {"_id": -1}})
        plan = str(explain["queryPlanner"])
        assert explain["filterPushdown"] is True, (collection, query)
        assert "Index Scan" in plan and "Seq Scan" not in plan, (collection, query, plan)
    client.close()


def test_every_containment_twin_keeps_a_short_pending_list_also_after_an_upgrade(
    postgresql_ferretdb: ThrowawayFerretDB, settings: Settings
) -> None:
    """A GIN lookup reads the whole pending list: every twin bounds it, one made before the bound too."""
    _create_indexes(postgresql_ferretdb, settings)
    binaries, port = postgres.ensure_binaries(), settings.infra_postgres_port
    database = postgres.database_for(postgresql_ferretdb.data_dir)

    def twins() -> dict[str, str]:
        """Each twin (schema-qualified) and its options."""
        listed = postgres._psql(
            binaries,
            port,
            "select format('%I.%I', n.nspname, c.relname), coalesce(array_to_string(c.reloptions, ','), '') "
            "from pg_class c join pg_am a on a.oid = c.relam join pg_namespace n on n.oid = c.relnamespace "
            "where a.amname = 'gin' and c.relname like '%\\_gin'",
            database=database,
        )
        return dict(line.split("|", 1) for line in listed.splitlines())

    bounded = f"gin_pending_list_limit={postgres.PENDING_LIST_KB}"
    made = twins()
    tables = {name.split(".", 1)[1].split("_", 1)[0] for name in made}
    assert {"failures", "ip", "minute"} <= tables  # ip_stats, minute_counts
    assert set(made.values()) == {bounded}
    # a twin made by an earlier version has no bound: the next start gives it one
    old = next(name for name in made if ".failures_" in name)
    postgres._psql(binaries, port, f"alter index {old} reset (gin_pending_list_limit)", database=database)
    assert twins()[old] == ""
    postgres.ensure_database(postgresql_ferretdb.settings, postgresql_ferretdb.data_dir)
    assert set(twins().values()) == {bounded}
