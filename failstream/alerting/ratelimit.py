"""Rate limits with the ``limits`` library: never a flood, whatever the detector says.

Two limits, as the contract asks: per subject (default 1 per 15 minutes) on
each alert before grouping, and global (default 30 per hour) on each email
that leaves, so a digest of 100 subjects costs one unit of the global budget,
not 100. Storage is ``limits``' own: memory for one process, Redis
(``redis://...``) when several alerting processes must share the budget.
"""

from __future__ import annotations

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import ConfigurationError
from limits.storage import storage_from_string

from failstream.alerting.exceptions import AlertingConfigError
from failstream.events import Alert
from failstream.settings import AlertingSettings


def async_storage_uri(uri: str) -> str:
    """``limits`` picks its asyncio backends by an ``async+`` scheme prefix."""
    return uri if uri.startswith("async+") else f"async+{uri}"


class AlertRateLimiter:
    def __init__(self, per_subject: RateLimitItem, global_limit: RateLimitItem, storage_uri: str) -> None:
        storage = storage_from_string(async_storage_uri(storage_uri))
        self._limiter = MovingWindowRateLimiter(storage)  # type: ignore[arg-type]
        self._per_subject = per_subject
        self._global = global_limit

    @classmethod
    def from_settings(cls, settings: AlertingSettings) -> AlertRateLimiter:
        try:
            per_subject = parse(settings.rate_limit_per_subject)
            global_limit = parse(settings.rate_limit_global)
        except ValueError as exc:
            raise AlertingConfigError(
                f"FAILSTREAM_RATE_LIMIT_PER_SUBJECT / _GLOBAL: {exc} (e.g. '1/15minutes', '30/hour')"
            ) from exc
        try:
            return cls(per_subject, global_limit, settings.rate_limit_storage_uri)
        except ConfigurationError as exc:
            # Redis needs the `coredis` package, which is not installed by default
            raise AlertingConfigError(f"FAILSTREAM_RATE_LIMIT_STORAGE_URI: {exc}") from exc

    async def admit_alert(self, alert: Alert) -> bool:
        """Spend the subject's budget; resolved notices are free (they end a storm, not start one)."""
        if alert.state == "resolved":
            return True
        return await self._limiter.hit(self._per_subject, "failstream-alert-subject", alert.subject)

    async def admit_email(self) -> bool:
        return await self._limiter.hit(self._global, "failstream-alert-email")
