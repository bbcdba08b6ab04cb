"""An HTTP client that connects only to the addresses it has checked.

Checking a URL's host and then letting the client resolve it again would leave a window
(DNS rebinding: public at the check, 127.0.0.1 at the connect). So the check happens in
the connection itself: the network backend resolves the host, checks every address, and
connects to a checked one by its address. TLS still verifies the certificate and sends
SNI for the host name, which httpcore takes from the URL, not from the address.
"""

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import httpcore
import httpx

from image_storage.hosts import OutputHosts, Resolve, system_resolve

SocketOptions = Iterable[
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
]


class CheckedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections to `hosts`' checked addresses only; no Unix sockets."""

    def __init__(
        self,
        hosts: OutputHosts,
        *,
        resolve: Resolve = system_resolve,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._hosts = hosts
        self._resolve = resolve
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: SocketOptions | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = self._hosts.check_addresses(host, await self._resolved(host, port, timeout))
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as error:
                failure = error
        raise failure or httpcore.ConnectError(f"no address to connect to for {host}")

    async def _resolved(self, host: str, port: int, seconds: float | None) -> list[str]:
        try:
            async with asyncio.timeout(seconds):
                return await self._resolve(host, port)
        except TimeoutError as error:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from error
        except OSError as error:
            raise httpcore.ConnectError(f"could not resolve {host!r}: {error}") from error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: SocketOptions | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Outputs are never fetched over a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (its error mapping, its streaming) over the checked backend."""

    def __init__(self, backend: CheckedNetworkBackend, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx takes no network backend of its own, so its pool is replaced by one with it.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context(trust_env=False)


@asynccontextmanager
async def checked_client(
    hosts: OutputHosts,
    *,
    http_timeout: httpx.Timeout,
    limits: httpx.Limits,
    resolve: Resolve = system_resolve,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client without credentials or proxies that reaches `hosts`' checked addresses."""
    transport = _CheckedTransport(CheckedNetworkBackend(hosts, resolve=resolve), limits)
    async with httpx.AsyncClient(
        transport=transport, timeout=http_timeout, trust_env=False
    ) as client:
        yield client
