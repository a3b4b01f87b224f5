"""The address of the client behind an HTTP request, as far as the servers in front can vouch for it.

Behind the proxies in deploy/, pages reach gunicorn, whose peer (`REMOTE_ADDR`)
is always the proxy; the proxy writes the address it saw into `X-Forwarded-For`,
replacing whatever the client sent there. Served by Daphne alone, the peer is
the client itself, and an `X-Forwarded-For` is nothing but the client's claim.
So the header is believed only from a peer in `DJANGO_TRUSTED_PROXIES` (loopback
unless set), and then only its last entry, the one the nearest proxy wrote.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def ip_or_none(text: str) -> str | None:
    """`text` as a normalised IP address, or None if it is none (a database column of addresses would refuse it)."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


@lru_cache(maxsize=4)
def networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def is_trusted_proxy(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in networks(tuple(settings.TRUSTED_PROXIES)))


def http_client_address(request: HttpRequest) -> str | None:
    """The client's IP address, for per-address limits (failed logins) and log lines; None if unknown."""
    peer = ip_or_none(request.META.get("REMOTE_ADDR") or "")
    if peer is None or not is_trusted_proxy(peer):
        return peer
    nearest = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1]
    return ip_or_none(nearest) or peer
