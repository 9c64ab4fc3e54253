"""Bytes from Kafka to a contract event, or to a dead letter saying why not."""

from __future__ import annotations

import base64
from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from failstream.events import SCHEMA_VERSION, DeadLetter, now_ms

E = TypeVar("E", bound=BaseModel)


def dead_letter(
    error: str, *, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None
) -> DeadLetter:
    return DeadLetter(
        ts=now_ms(),
        source_topic=topic,
        partition=partition,
        offset=offset,
        key_b64=None if key is None else base64.b64encode(key).decode(),
        value_b64=base64.b64encode(value or b"").decode(),
        error=error[:1000],
    )


def _why(model: type[BaseModel], value: bytes) -> str:
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return f"not JSON: {exc}"
    if not isinstance(data, dict):
        return f"not a JSON object: {type(data).__name__}"
    if data.get("v", SCHEMA_VERSION) != SCHEMA_VERSION:
        return f"unknown schema version v={data.get('v')!r}"
    try:
        model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"schema: {where}: {first['msg']} ({exc.error_count()} errors)"
    return "unknown"


def decode(
    model: type[E], *, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None
) -> E | DeadLetter:
    """The event, or a DeadLetter if it is not JSON, fails the schema or has an unknown ``v``."""
    if not value:
        error = "empty message"
    else:
        try:
            event = model.model_validate_json(value)
        except ValidationError:
            error = _why(model, value)
        else:
            version = getattr(event, "v", SCHEMA_VERSION)
            if version == SCHEMA_VERSION:
                return event
            error = f"unknown schema version v={version!r}"
    return dead_letter(error, topic=topic, partition=partition, offset=offset, key=key, value=value)
