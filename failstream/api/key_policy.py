"""No known keys off loopback: the development keys never guard an API others can reach.

Every checkout knows ``dev-read-key`` and ``dev-admin-key`` (the defaults), and
an admin key can silence every alert. On a loopback ``api_host`` they are
convenient and harmless, and the API says in one log line that they are in
use; on any other address the API refuses to start with one line naming the
settings to set.

Refusing beats generating random keys and printing them once: a printed key
is lost with the log, changes at every restart (breaking the dashboards,
bouncers and scripts that hold it) and differs between replicas behind one
load balancer. An operator who sets keys once has none of those problems.
"""

from __future__ import annotations

import ipaddress

from failstream.settings import DEV_ADMIN_KEY, DEV_READ_KEY, ApiSettings

KNOWN_KEYS = frozenset({DEV_READ_KEY, DEV_ADMIN_KEY})


class ApiKeysRefused(Exception):
    """The API must not start with these keys; the message says what to set."""


class KnownKeysOffLoopback(ApiKeysRefused):
    """The API would listen beyond this host with keys everyone knows."""


class NoApiKeys(ApiKeysRefused):
    """Both key lists are set but empty: every request would be refused."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1, [::1])."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost may resolve anywhere
        return False


def known_key_settings(settings: ApiSettings) -> list[str]:
    """The environment variables whose keys include a known (development) key."""
    found = []
    for name, keys in (
        ("api_read_keys", settings.api_read_keys),
        ("api_admin_keys", settings.api_admin_keys),
    ):
        if any(k.get_secret_value() in KNOWN_KEYS for k in keys):
            found.append(f"FAILSTREAM_{name.upper()}")
    return found


def check_bind(settings: ApiSettings) -> str | None:
    """The start-up notice for the keys in use, or ``ApiKeysRefused``.

    None when every key is the operator's own; a one-line notice when the
    development keys serve a loopback address. Unset key settings mean the
    development keys; set but empty ones (``FAILSTREAM_API_READ_KEYS=`` left
    blank in an env file) would leave an API that answers 401 to everyone.
    """
    keys = (*settings.api_read_keys, *settings.api_admin_keys)
    if not any(k.get_secret_value() for k in keys):
        raise NoApiKeys(
            "no API keys: FAILSTREAM_API_READ_KEYS and FAILSTREAM_API_ADMIN_KEYS are both empty, "
            "so every request would be refused; set them (e.g. $(openssl rand -hex 24))"
        )
    known = known_key_settings(settings)
    if not known:
        return None
    if is_loopback(settings.api_host):
        return (
            f"API keys: the development keys ({DEV_READ_KEY}, {DEV_ADMIN_KEY}) are accepted because "
            f"the API listens on loopback ({settings.api_host}) only; set FAILSTREAM_API_READ_KEYS "
            "and FAILSTREAM_API_ADMIN_KEYS before binding another address"
        )
    raise KnownKeysOffLoopback(
        f"refusing to serve the API on {settings.api_host} with the development API keys everyone "
        f"knows (in {' and '.join(known)}, or unset): set keys of your own (`openssl rand -hex 24` "
        "makes one) or bind 127.0.0.1"
    )
