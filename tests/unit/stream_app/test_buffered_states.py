"""Changed states stay decoded until a flush writes each changed key once."""

from __future__ import annotations

from failstream.stream_app.buffered_states import BufferedStates


def decode(raw: bytes | None) -> list[int]:
    return [int(x) for x in raw.split(b",")] if raw else []


def encode(state: list[int]) -> bytes:
    return b",".join(str(x).encode() for x in state)


def test_a_changed_state_is_read_back_from_the_buffer_not_the_table() -> None:
    table = {b"a": b"1"}
    states = BufferedStates(table, decode, encode)
    state = states.get(b"a")
    state.append(2)
    states.put(b"a", state)
    assert states.get(b"a") == [1, 2]
    assert table == {b"a": b"1"}, "the table changes only with a flush"


def test_a_flush_writes_each_changed_key_once_and_deletes_forgotten_ones() -> None:
    writes: list[bytes] = []

    class Table(dict[bytes, bytes]):
        def __setitem__(self, key: bytes, value: bytes) -> None:
            writes.append(key)
            super().__setitem__(key, value)

    table = Table({b"gone": b"9"})
    states = BufferedStates(table, decode, encode)
    for i in range(20):
        state = states.get(b"busy")
        state.append(i)
        states.put(b"busy", state)
    states.delete(b"gone")
    assert len(states) == 2
    assert states.flush() == 2
    assert writes == [b"busy"]
    assert dict(table) == {b"busy": encode(list(range(20)))}
    assert len(states) == 0


def test_items_gives_the_newest_state_of_every_key_and_skips_deleted_ones() -> None:
    table = {b"old": b"1", b"changed": b"1", b"deleted": b"1"}
    states = BufferedStates(table, decode, encode)
    states.put(b"changed", [1, 2])
    states.put(b"new", [3])
    states.delete(b"deleted")
    assert dict(states.items()) == {b"old": [1], b"changed": [1, 2], b"new": [3]}


def test_take_changes_encodes_and_forgets_them() -> None:
    states = BufferedStates({}, decode, encode)
    states.put(b"a", [1])
    states.delete(b"b")
    assert states.take_changes() == {b"a": b"1", b"b": None}
    assert states.take_changes() == {}
