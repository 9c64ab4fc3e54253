"""The detection rules and their thresholds, built once from settings."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from failstream.settings import StreamSettings
from failstream.stream_app.detection.email_rule import EmailRatioRule
from failstream.stream_app.detection.threshold_rule import ThresholdRule

IP_RULE = "ip-failures"
IP_ROUTE_RULE = "ip-route-failures"
SPIKE_RULE = "global-spike"
PREFIX_RULE = "prefix-failures"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Allowlist:
    """IPs and CIDRs that never fire (fail2ban's ``ignoreip``)."""

    def __init__(self, networks: tuple[Network, ...]) -> None:
        self._networks = networks
        self._cached = lru_cache(maxsize=65_536)(self._contains)

    def _contains(self, ip: str) -> bool:
        if not self._networks:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def __contains__(self, ip: str) -> bool:
        return bool(self._networks) and self._cached(ip)


@dataclass(frozen=True)
class DetectionRules:
    ip: ThresholdRule
    ip_route: ThresholdRule
    #: over the addresses of a network prefix (``AddressPrefixes``): rotating addresses in it still alerts
    prefix: ThresholdRule
    email: EmailRatioRule
    spike_per_minute: int
    allowlist: Allowlist

    @classmethod
    def from_settings(cls, settings: StreamSettings) -> DetectionRules:
        grace_ms = settings.grace_s * 1000
        repeat_ms = settings.repeat_interval_s * 1000
        return cls(
            ip=ThresholdRule(
                IP_RULE, settings.rule_ip_threshold, settings.rule_ip_window_s * 1000, grace_ms, repeat_ms
            ),
            ip_route=ThresholdRule(
                IP_ROUTE_RULE,
                settings.rule_ip_route_threshold,
                settings.rule_ip_route_window_s * 1000,
                grace_ms,
                repeat_ms,
            ),
            prefix=ThresholdRule(
                PREFIX_RULE,
                settings.rule_prefix_threshold,
                settings.rule_prefix_window_s * 1000,
                grace_ms,
                repeat_ms,
            ),
            email=EmailRatioRule(
                ratio=settings.rule_email_failure_ratio,
                min_volume=settings.rule_email_min_volume,
                window_ms=settings.rule_email_window_s * 1000,
                grace_ms=grace_ms,
                repeat_ms=repeat_ms,
            ),
            spike_per_minute=settings.rule_spike_per_minute,
            allowlist=Allowlist(settings.allowlist_networks),
        )
