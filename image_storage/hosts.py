"""Where outputs may be fetched from: listed hosts, resolving to public addresses.

A prediction's output URL comes from the provider's answer, so it is not trusted: it
could name this server's own network (the metadata service, the database, localhost).
Only hosts on the list are fetched from, and only at public addresses, unless a host is
listed exactly (a test's fake on 127.0.0.1 is, by its address or name).
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable

from domain.images import OutputRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# A host name and port to the addresses they resolve to, in the resolver's order.
Resolve = Callable[[str, int], Awaitable[list[str]]]


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class OutputHosts:
    """The allowlist: `host` entries match exactly, `*.suffix` entries any subdomain."""

    def __init__(self, entries: Iterable[str]) -> None:
        normal = [_normal(entry) for entry in entries if entry.strip()]
        self._exact = frozenset(entry for entry in normal if not entry.startswith("*."))
        self._suffixes = tuple(entry[1:] for entry in normal if entry.startswith("*."))

    def check_host(self, host: str) -> None:
        """OutputRefused unless `host` is on the list."""
        if not self.allows_host(host):
            raise OutputRefused(f"{host!r} is not a host outputs may be fetched from")

    def allows_host(self, host: str) -> bool:
        name = _normal(host)
        if name in self._exact:
            return True
        if _address(name) is not None:
            return False  # an address is listed by itself or not at all
        return any(name.endswith(suffix) and len(name) > len(suffix) for suffix in self._suffixes)

    def check_addresses(self, host: str, addresses: list[str]) -> list[str]:
        """`addresses` when `host` may be reached at every one of them; else OutputRefused.

        A host listed exactly may be anywhere; otherwise each address must be public, so
        that a listed wildcard cannot be pointed, through DNS, at a private network.
        """
        self.check_host(host)
        if not addresses:
            raise OutputRefused(f"{host!r} resolves to no address")
        if _normal(host) in self._exact:
            return addresses
        for address in addresses:
            parsed = _address(address)
            if parsed is None or not _public(parsed):
                raise OutputRefused(f"{host!r} resolves to {address}, which is not public")
        return addresses


def _normal(host: str) -> str:
    return host.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")


def _address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # without an IPv6 zone
    except ValueError:
        return None


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
