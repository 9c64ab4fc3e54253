"""Count-map keys as users wrote them.

The writers store ``.`` as U+FF0E and a leading ``$`` as U+FF04 (MongoDB
field-name rules, docs/mongodb.md); the API gives the original labels back.
"""

from __future__ import annotations

from collections.abc import Mapping


def decode_label(key: str) -> str:
    if key.startswith("\uff04"):
        key = "$" + key[1:]
    return key.replace("\uff0e", ".")


def decode_counts(counts: object) -> dict[str, int]:
    """A stored count map with real labels; anything not a map of numbers is dropped."""
    if not isinstance(counts, Mapping):
        return {}
    out: dict[str, int] = {}
    for key, value in counts.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            label = decode_label(str(key))
            out[label] = out.get(label, 0) + int(value)
    return out


def add_counts(into: dict[str, int], counts: object) -> None:
    for label, n in decode_counts(counts).items():
        into[label] = into.get(label, 0) + n
