"""Which requests the middlewares capture: statuses, skipped paths, service name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from failstream.producer.classify import is_failure

if TYPE_CHECKING:  # a middleware's import must not pay for pydantic-settings
    from failstream.settings import CaptureSettings


def parse_statuses(items: Iterable[str]) -> frozenset[int]:
    """``("401", "429", "5xx")`` -> the status codes they name."""
    codes: set[int] = set()
    for raw in items:
        item = raw.strip().lower()
        if len(item) == 3 and item.endswith("xx") and item[0] in "12345":
            base = int(item[0]) * 100
            codes.update(range(base, base + 100))
        elif item.isdigit() and 100 <= int(item) <= 599:
            codes.add(int(item))
        else:
            raise ValueError(f"capture status {raw!r} is neither a status code nor a class like 5xx")
    return frozenset(codes)


@dataclass(frozen=True, slots=True)
class CapturePolicy:
    """What counts as a failure for one host service.

    ``statuses`` (when given) replaces the default rule (401, 403, 429, 5xx,
    or every 4xx and 5xx with ``all_4xx``). A skip path ending in ``*`` is a
    prefix: ``/static/*``.
    """

    service: str
    statuses: frozenset[int] | None = None
    all_4xx: bool = False
    skip_paths: frozenset[str] = frozenset()
    skip_prefixes: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        *,
        service: str,
        statuses: Iterable[str | int] | None = None,
        all_4xx: bool = False,
        skip_paths: Iterable[str] = (),
    ) -> CapturePolicy:
        codes = parse_statuses(str(s) for s in statuses) if statuses else None
        paths = tuple(skip_paths)
        return cls(
            service=service,
            statuses=codes,
            all_4xx=all_4xx,
            skip_paths=frozenset(p for p in paths if not p.endswith("*")),
            skip_prefixes=tuple(p[:-1] for p in paths if p.endswith("*")),
        )

    @classmethod
    def from_settings(cls, settings: CaptureSettings) -> CapturePolicy:
        return cls.build(
            service=settings.service_name,
            statuses=settings.capture_statuses or None,
            all_4xx=settings.capture_all_4xx,
            skip_paths=settings.capture_skip_paths,
        )

    @property
    def failure_statuses(self) -> frozenset[int]:
        """Every status that counts, as a set: one lookup per request on the hot path."""
        if self.statuses is not None:
            return self.statuses
        return frozenset(s for s in range(100, 600) if is_failure(s, all_4xx=self.all_4xx))

    def is_failure(self, status: int) -> bool:
        if self.statuses is not None:
            return status in self.statuses
        return is_failure(status, all_4xx=self.all_4xx)

    def skips(self, path: str) -> bool:
        return path in self.skip_paths or (bool(self.skip_prefixes) and path.startswith(self.skip_prefixes))
