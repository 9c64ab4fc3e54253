from __future__ import annotations

import pytest

from failstream.api import pagination
from failstream.api.pagination import CursorError, Position


def test_a_cursor_round_trips_and_is_bound_to_its_list() -> None:
    cursor = pagination.encode("failures", Position(1_700_000_000_123, "01J-abc"))
    assert pagination.decode("failures", cursor) == Position(1_700_000_000_123, "01J-abc")
    with pytest.raises(CursorError, match="another list"):
        pagination.decode("alerts", cursor)


@pytest.mark.parametrize(
    "bad", ["", "!!!", "bm90IGpzb24", "WzEsMiwzXQ", "WyJmYWlsdXJlcyIsdHJ1ZSwiYSJd", "A" * 2000]
)
def test_garbage_cursors_are_refused(bad: str) -> None:
    with pytest.raises(CursorError):
        pagination.decode("failures", bad)


def test_the_next_page_filter_is_strictly_after_the_last_item_in_time_then_id_order() -> None:
    assert pagination.before(None, "ts") == {}
    assert pagination.before(Position(5, "b"), "ts") == {
        "$or": [{"ts": {"$lt": 5}}, {"ts": 5, "_id": {"$lt": "b"}}]
    }


def test_a_cursor_with_a_time_bson_cannot_hold_is_refused_not_a_server_error() -> None:
    import base64
    import json

    forged = base64.urlsafe_b64encode(json.dumps(["failures", 2**64, "x"]).encode()).decode().rstrip("=")
    with pytest.raises(CursorError):
        pagination.decode("failures", forged)
