"""The spool's record format, and reading it past damage.

A record is ``length, crc32`` (two big-endian u32) and a payload of
``topic length (u16), topic, key length (u32, all ones for none), key,
value``. The crc is what lets a reader tell a record from damage: a bad
sector, a write the disk cut short, a stray byte. Reading does not stop at
damage; it looks for the next place a whole record with a matching crc
starts and goes on from there, so one bad record costs that record, not
every event queued behind it.
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

#: (topic, key, value) — what ``KafkaSink.send`` was given.
Record = tuple[str, bytes | None, bytes]

_HEADER = struct.Struct(">II")  # payload length, crc32 of payload
_TOPIC_LEN = struct.Struct(">H")
_KEY_LEN = struct.Struct(">I")
_NO_KEY = 0xFFFFFFFF
_MIN_PAYLOAD = _TOPIC_LEN.size + _KEY_LEN.size
# Kafka's own limit; checked before the crc, so looking for a record in damage stays cheap
_MAX_TOPIC = 249


class Decoded(NamedTuple):
    records: list[Record]
    #: stretches of damage skipped between whole records (each cost one record or more)
    corrupt: int
    corrupt_bytes: int
    #: bytes after the last whole record: a write cut short by a crash or a full disk
    torn: int


def encode(record: Record) -> bytes:
    topic, key, value = record
    topic_bytes = topic.encode()
    key_part = _KEY_LEN.pack(_NO_KEY) if key is None else _KEY_LEN.pack(len(key)) + key
    payload = _TOPIC_LEN.pack(len(topic_bytes)) + topic_bytes + key_part + value
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _parse(payload: bytes) -> Record | None:
    """The record a crc-checked payload holds; None if its inner lengths do not add up."""
    (topic_len,) = _TOPIC_LEN.unpack_from(payload, 0)
    at = _TOPIC_LEN.size + topic_len
    if at + _KEY_LEN.size > len(payload):
        return None
    try:
        topic = payload[_TOPIC_LEN.size : at].decode()
    except UnicodeDecodeError:
        return None
    (key_len,) = _KEY_LEN.unpack_from(payload, at)
    at += _KEY_LEN.size
    key: bytes | None = None
    if key_len != _NO_KEY:
        if at + key_len > len(payload):
            return None
        key, at = payload[at : at + key_len], at + key_len
    return topic, key, payload[at:]


def _record_at(data: bytes, pos: int) -> tuple[Record, int] | None:
    """The whole, intact record starting at ``pos`` and where the next one starts, or None."""
    if pos + _HEADER.size > len(data):
        return None
    length, crc = _HEADER.unpack_from(data, pos)
    start = pos + _HEADER.size
    end = start + length
    if length < _MIN_PAYLOAD or end > len(data):
        return None
    (topic_len,) = _TOPIC_LEN.unpack_from(data, start)
    if topic_len > _MAX_TOPIC:
        return None
    payload = data[start:end]
    if zlib.crc32(payload) != crc:
        return None
    record = _parse(payload)
    return None if record is None else (record, end)


def decode_all(data: bytes) -> Decoded:
    """Every intact record in ``data``, in order, stepping over damage."""
    records: list[Record] = []
    corrupt = corrupt_bytes = 0
    pos, end = 0, len(data)
    while pos < end:
        found = _record_at(data, pos)
        if found is not None:
            records.append(found[0])
            pos = found[1]
            continue
        # damage (or a torn tail): the next intact record, if any, starts further on
        resume = pos + 1
        while resume < end and _record_at(data, resume) is None:
            resume += 1
        if resume >= end:
            return Decoded(records, corrupt, corrupt_bytes, end - pos)
        corrupt += 1
        corrupt_bytes += resume - pos
        pos = resume
    return Decoded(records, corrupt, corrupt_bytes, 0)
