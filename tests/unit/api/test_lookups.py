"""Queries kept in the shape FerretDB pushes down: top-level equalities, one query per spelling."""

from __future__ import annotations

from failstream.api.lookups import newest_first, spellings
from failstream.api.pagination import Position, before, with_position


def test_a_page_position_leaves_the_filter_fields_at_the_top_level() -> None:
    cond = before(Position(1000, "e9"), "ts")
    assert with_position({"ip": "203.0.113.7"}, cond) == {"ip": "203.0.113.7", **cond}
    assert with_position({"ip": "203.0.113.7"}, {}) == {"ip": "203.0.113.7"}
    # a query with an $or of its own cannot take a second one at the top level
    assert with_position({"$or": [{"a": 1}]}, cond) == {"$and": [{"$or": [{"a": 1}]}, cond]}


def test_documents_of_several_spellings_merge_newest_first_once_each() -> None:
    stored = [{"_id": "b", "ts": 2}, {"_id": "a", "ts": 3}]
    canonical = [{"_id": "d", "ts": 3}, {"_id": "b", "ts": 2}, {"_id": "c", "ts": 1}]
    merged = newest_first(stored + canonical, "ts", 3)
    assert [d["_id"] for d in merged] == ["d", "a", "b"]


def test_an_address_in_one_spelling_is_one_equality() -> None:
    assert spellings({"$in": ["10.0.0.1"]}) == ["10.0.0.1"]
    assert spellings({"$in": ["::ffff:1.2.3.4", "::ffff:102:304"]}) == ["::ffff:1.2.3.4", "::ffff:102:304"]
    assert spellings("10.0.0.1") == ["10.0.0.1"]
