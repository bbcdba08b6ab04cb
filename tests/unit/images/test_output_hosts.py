"""Outputs come only from the listed hosts, at public addresses unless listed exactly."""

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import partial

import httpx
import pytest
import respx
from PIL import Image

from domain.images import OutputRefused, OutputUnavailable
from image_storage import HttpOutputFetcher, OutputHosts, open_output_fetcher

DEFAULT = OutputHosts(["replicate.delivery", "*.replicate.delivery", "api.replicate.com"])
TIMEOUT = httpx.Timeout(5.0)
LIMITS = httpx.Limits(max_connections=4)
# A fetcher with its own client, from the hosts given (and `resolve`, if given).
fetcher_for = partial(open_output_fetcher, http_timeout=TIMEOUT, limits=LIMITS)


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (1, 2, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


# --- the list ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "replicate.delivery",
        "pbxt.replicate.delivery",
        "a.b.replicate.delivery",
        "REPLICATE.Delivery",
        "replicate.delivery.",
        "api.replicate.com",
    ],
)
def test_listed_hosts_and_subdomains_of_wildcards_are_allowed(host: str) -> None:
    assert DEFAULT.allows_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "evilreplicate.delivery",
        "replicate.delivery.evil.test",
        "sub.api.replicate.com",  # listed exactly, so no subdomains
        "replicate.com",
        "localhost",
        "127.0.0.1",
        "169.254.169.254",
        "",
    ],
)
def test_other_hosts_are_refused(host: str) -> None:
    assert not DEFAULT.allows_host(host)
    with pytest.raises(OutputRefused):
        DEFAULT.check_host(host)


def test_a_wildcard_never_matches_an_address() -> None:
    hosts = OutputHosts(["*.0.0.1", "*.1"])

    assert not hosts.allows_host("127.0.0.1")
    assert not hosts.allows_host("::1")


def test_an_address_listed_exactly_is_allowed() -> None:
    hosts = OutputHosts(["127.0.0.1", "[::1]"])

    assert hosts.allows_host("127.0.0.1")
    assert hosts.allows_host("::1")
    assert hosts.check_addresses("127.0.0.1", ["127.0.0.1"]) == ["127.0.0.1"]


# --- the addresses ----------------------------------------------------------------------


def test_public_addresses_are_allowed() -> None:
    addresses = ["34.120.10.5", "2606:4700::6810:84e5"]

    assert DEFAULT.check_addresses("pbxt.replicate.delivery", addresses) == addresses


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",  # loopback
        "::1",
        "10.1.2.3",  # private
        "172.16.0.9",
        "192.168.1.1",
        "fd00::1",
        "169.254.169.254",  # link-local: cloud metadata
        "fe80::1",
        "100.64.0.1",  # shared address space
        "0.0.0.0",  # noqa: S104 (unspecified: an address to refuse, not to bind)
        "240.0.0.1",  # reserved
        "224.0.0.1",  # multicast
        "::ffff:127.0.0.1",  # loopback, mapped into IPv6
        "not an address",
    ],
)
def test_a_listed_name_at_a_private_address_is_refused(address: str) -> None:
    with pytest.raises(OutputRefused, match="not public"):
        DEFAULT.check_addresses("pbxt.replicate.delivery", ["34.120.10.5", address])


def test_a_host_listed_exactly_may_be_anywhere() -> None:
    hosts = OutputHosts(["localhost", "*.replicate.delivery"])

    assert hosts.check_addresses("localhost", ["127.0.0.1", "::1"]) == ["127.0.0.1", "::1"]
    with pytest.raises(OutputRefused):
        hosts.check_addresses("x.replicate.delivery", ["127.0.0.1"])


def test_no_address_is_refused() -> None:
    with pytest.raises(OutputRefused):
        DEFAULT.check_addresses("replicate.delivery", [])


# --- the fetcher, host by host and hop by hop ---------------------------------------------


@pytest.fixture
async def fetcher() -> AsyncIterator[HttpOutputFetcher]:
    async with httpx.AsyncClient() as http:
        yield HttpOutputFetcher(http, DEFAULT)


@pytest.fixture
def network() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def image() -> httpx.Response:
    return httpx.Response(200, content=png(), headers={"Content-Type": "image/png"})


async def test_an_output_on_a_listed_host_is_fetched(
    fetcher: HttpOutputFetcher, network: respx.MockRouter
) -> None:
    network.get("https://pbxt.replicate.delivery/a/out-0.png").mock(return_value=image())

    fetched = await fetcher.fetch("https://pbxt.replicate.delivery/a/out-0.png")

    assert (fetched.width, fetched.height) == (8, 6)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.test/out-0.png",
        "http://127.0.0.1:8000/images/secret",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost/out-0.png",
    ],
)
async def test_an_output_elsewhere_is_refused_without_a_request(
    fetcher: HttpOutputFetcher,
    network: respx.MockRouter,
    url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    elsewhere = network.get(url).mock(return_value=image())

    with pytest.raises(OutputRefused):
        await fetcher.fetch(url)

    assert not elsewhere.called
    assert "refused to fetch an output" in caplog.text


async def test_a_redirect_off_the_list_is_refused_without_following_it(
    fetcher: HttpOutputFetcher, network: respx.MockRouter
) -> None:
    start = "https://pbxt.replicate.delivery/a/out-0.png"
    network.get(start).mock(
        return_value=httpx.Response(302, headers={"Location": "http://10.0.0.5/internal"})
    )
    internal = network.get("http://10.0.0.5/internal").mock(return_value=image())

    with pytest.raises(OutputRefused, match=r"10\.0\.0\.5"):
        await fetcher.fetch(start)

    assert not internal.called


async def test_a_redirect_within_the_list_is_followed(
    fetcher: HttpOutputFetcher, network: respx.MockRouter
) -> None:
    start = "https://replicate.delivery/a/out-0.png"
    there = "https://pbxt.replicate.delivery/b/out-0.png"
    network.get(start).mock(return_value=httpx.Response(307, headers={"Location": there}))
    network.get(there).mock(return_value=image())

    fetched = await fetcher.fetch(start)

    assert fetched.content == png()


# --- the connection: real sockets on loopback -----------------------------------------------


class LoopbackImageServer:
    """A one-route HTTP/1.1 server on 127.0.0.1 that counts its connections."""

    def __init__(self) -> None:
        self.connections = 0
        self.hosts: list[str] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        for line in head.decode("latin-1").split("\r\n"):
            if line.lower().startswith("host:"):
                self.hosts.append(line.split(":", 1)[1].strip())
        body = png()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()


@asynccontextmanager
async def loopback_server() -> AsyncIterator[LoopbackImageServer]:
    served = LoopbackImageServer()
    server = await asyncio.start_server(served.handle, "127.0.0.1", 0)
    served.port = server.sockets[0].getsockname()[1]
    async with server:
        yield served


class Resolver:
    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return self.addresses


def resolving_to(*addresses: str) -> Resolver:
    return Resolver(list(addresses))


async def test_a_wildcard_host_resolving_to_loopback_is_refused_at_connect() -> None:
    resolver = resolving_to("127.0.0.1")
    async with (
        loopback_server() as server,
        fetcher_for(["*.delivery.test"], resolve=resolver) as fetcher,
    ):
        with pytest.raises(OutputRefused, match="not public"):
            await fetcher.fetch(f"http://rebound.delivery.test:{server.port}/out-0.png")

    assert resolver.asked == ["rebound.delivery.test"]
    assert server.connections == 0


async def test_loopback_not_listed_is_refused_before_connecting() -> None:
    async with loopback_server() as server, fetcher_for(["*.delivery.test"]) as fetcher:
        for host in ("127.0.0.1", "localhost"):
            with pytest.raises(OutputRefused):
                await fetcher.fetch(f"http://{host}:{server.port}/out-0.png")

    assert server.connections == 0


async def test_a_host_listed_exactly_is_reached_at_the_address_it_was_checked_at() -> None:
    # The name exists nowhere but in this resolver: the connection can only have gone to
    # the address the check saw, not to a second lookup.
    resolver = resolving_to("127.0.0.1")
    async with (
        loopback_server() as server,
        fetcher_for(["images.delivery.test"], resolve=resolver) as fetcher,
    ):
        fetched = await fetcher.fetch(f"http://images.delivery.test:{server.port}/out-0.png")

    assert fetched.content == png()
    assert server.connections == 1
    assert server.hosts == [f"images.delivery.test:{server.port}"]


async def test_the_fakes_loopback_host_listed_exactly_is_fetched() -> None:
    async with loopback_server() as server, fetcher_for(["127.0.0.1", "localhost"]) as fetcher:
        by_address = await fetcher.fetch(f"http://127.0.0.1:{server.port}/out-0.png")
        by_name = await fetcher.fetch(f"http://localhost:{server.port}/out-0.png")

    assert by_address.content == by_name.content == png()


async def test_a_name_that_does_not_resolve_is_unavailable() -> None:
    async def nowhere(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    async with fetcher_for(["images.delivery.test"], resolve=nowhere) as fetcher:
        with pytest.raises(OutputUnavailable, match="resolve"):
            await fetcher.fetch("http://images.delivery.test/out-0.png")
