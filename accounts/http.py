"""Small request helpers shared by the apps."""

import ipaddress
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def _networks(setting: str, entries: tuple[str, ...]) -> tuple[Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{setting} lists {entry!r}, which is not an IP address or network: give the "
                "proxy's address, e.g. 127.0.0.1 or 10.0.0.0/24."
            ) from exc
    return tuple(networks)


def parse_address(value: str | None) -> Address | None:
    """An IP address (IPv4-mapped IPv6 as IPv4), or None for anything else."""
    try:
        address = ipaddress.ip_address((value or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def address_in(address: Address, setting: str) -> bool:
    """Is `address` in the addresses or networks the setting `setting` lists?"""
    networks = _networks(setting, tuple(getattr(settings, setting)))
    return any(address in network for network in networks)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address; X-Forwarded-For counts only from a GATEHOUSE_TRUSTED_PROXIES peer.

    Each proxy appends the address it saw, so the entries are read from the right, past the
    trusted proxies, to the first address no trusted proxy is: the client. An entry that is not
    an address ends the walk (it came from the client or a broken proxy).
    """
    client = parse_address(request.META.get("REMOTE_ADDR"))
    if client is None:
        return None
    if address_in(client, "GATEHOUSE_TRUSTED_PROXIES"):
        for entry in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
            hop = parse_address(entry)
            if hop is None:
                break
            client = hop
            if not address_in(hop, "GATEHOUSE_TRUSTED_PROXIES"):
                break
    return str(client)
