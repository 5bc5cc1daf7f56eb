"""The upstream client against real loopback servers: each test scripts what the upstream sends, byte by byte.

Most servers are ``asyncio.start_server`` handlers, so a test controls framing, timing and closes exactly
and counts the connections the client made; the transport is driven through ``Transport`` as the rest of
the service drives it, and through ``Pool`` only where a detail is not reachable from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gzip
import hashlib
import ipaddress
import os
import ssl
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs, urlsplit

import brotli
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from multidict import CIMultiDict

from api_connector.errors import UpstreamConnectError, UpstreamError, UpstreamProtocolError, UpstreamTimeout
from api_connector.transport.http import Timeouts, Transport, UpstreamResponse, UpstreamStream
from api_connector.transport.http1 import _decoder

FAST = Timeouts(connect=1.0, read=1.0, total=2.0)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


@dataclass
class Seen:
    """One request as the upstream received it."""

    method: str
    target: str
    headers: CIMultiDict[str]
    body: bytes


async def read_request(reader: asyncio.StreamReader) -> Seen | None:
    """The next request on a connection, or None when the client closed it."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in filter(None, lines[1:]):
        name, _, value = line.partition(":")
        headers.add(name.strip(), value.strip())
    body = await reader.readexactly(int(headers.get("Content-Length", "0")))
    return Seen(method, target, headers, body)


def answer(body: bytes = b"ok", status: str = "200 OK", headers: Sequence[tuple[str, str]] = ()) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *(f"{n}: {v}" for n, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def keep_alive(respond: Callable[[Seen], bytes]) -> Handler:
    """A well-behaved upstream: answers every request on a connection until the client closes it."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        while (request := await read_request(reader)) is not None:
            writer.write(respond(request))
            await writer.drain()

    return handler


async def until_eof(reader: asyncio.StreamReader) -> None:
    """Wait for the client to close: a read returning nothing, or a reset."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(65536):
            pass


def sends_then_waits(raw: bytes) -> Handler:
    """An upstream that reads one request, sends ``raw`` as it is, and holds the connection until the client closes."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await read_request(reader)
        writer.write(raw)
        await until_eof(reader)

    return handler


def first_dropped_by_client(first: bytes, later: bytes) -> tuple[Handler, asyncio.Event, asyncio.Event]:
    """Connection 1 gets ``first`` (then ``sent`` is set) and is held until the client closes it (``closed``);
    every later connection gets ``later`` as a complete answer."""
    sent, closed = asyncio.Event(), asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await read_request(reader)
        writer.write(first if index == 1 else answer(later))
        await writer.drain()
        if index == 1:
            sent.set()
        await until_eof(reader)
        if index == 1:
            closed.set()

    return handler, sent, closed


class Upstream:
    """A loopback server running ``handler`` once per accepted connection (numbered from 1).

    It counts connections accepted and open at once; a handler's own failure (an assertion) is raised
    when the server closes, so a broken expectation on the server side fails the test.
    """

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self._handler = handler
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._errors: list[BaseException] = []
        self.accepted = 0
        self.open = 0
        self.peak = 0
        self.port = 0

    async def __aenter__(self) -> Upstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        if self._errors and exc_info[0] is None:
            raise self._errors[0]

    def url(self, path: str = "/", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.accepted += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            await self._handler(reader, writer, self.accepted)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away mid-exchange: several tests make it do so
        except asyncio.CancelledError:
            pass  # stopped by __aexit__; re-raised, asyncio's stream callback would log it as an error
        except Exception as exc:
            self._errors.append(exc)
        finally:
            self.open -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    client = Transport()
    yield client
    await client.close()


async def fetch(
    transport: Transport,
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeouts: Timeouts = FAST,
    params: dict[str, str] | None = None,
) -> UpstreamResponse:
    return await transport.send("p", method, url, headers=headers or {}, body=body, timeouts=timeouts, params=params)


async def open_stream(transport: Transport, url: str, timeouts: Timeouts = FAST) -> UpstreamStream:
    return await transport.open_stream("p", "GET", url, headers={}, body=None, timeouts=timeouts)


def elapsed_since(start: float) -> float:
    return asyncio.get_running_loop().time() - start


async def test_sequential_requests_reuse_one_connection(transport: Transport) -> None:
    async with Upstream(keep_alive(lambda r: answer(r.target.encode()))) as upstream:
        for path in ("/a", "/b", "/c"):
            response = await fetch(transport, upstream.url(path))
            assert (response.status, response.body) == (200, path.encode())
        assert upstream.accepted == 1


async def test_connection_close_from_the_server_means_a_new_connection(transport: Transport) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await read_request(reader)
        writer.write(answer(f"conn {index}".encode(), headers=[("Connection", "close")]))
        await writer.drain()
        await until_eof(reader)  # the client, told the connection ends, must close it itself

    async with Upstream(handler) as upstream:
        assert (await fetch(transport, upstream.url())).body == b"conn 1"
        assert (await fetch(transport, upstream.url())).body == b"conn 2"
        assert upstream.accepted == 2


async def test_chunked_body_split_across_writes(transport: Transport) -> None:
    # Chunks of 5, 16 (0x10) and 1 bytes; the writes cut inside a chunk, after a size line and inside "10".
    pieces = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        b"lo\r\n1",
        b"0\r\n wonderful",
        b" world\r\n1\r\n!\r\n0\r",
        b"\n\r\n",
    ]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        while await read_request(reader) is not None:
            for piece in pieces:
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.01)  # separate TCP segments, so the parser resumes mid-line

    async with Upstream(handler) as upstream:
        for _ in range(2):  # the second answer on the same connection proves the first ended where it should
            assert (await fetch(transport, upstream.url())).body == b"hello wonderful world!"
        assert upstream.accepted == 1


async def test_body_ended_by_the_server_closing(transport: Transport) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ")
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.write(b"the end")
        # returning closes the connection: that close is the body's end

    async with Upstream(handler) as upstream:
        assert (await fetch(transport, upstream.url())).body == b"until the end"
        assert (await fetch(transport, upstream.url())).body == b"until the end"
        assert upstream.accepted == 2


async def test_body_larger_than_the_read_buffer_through_send(transport: Transport) -> None:
    # send() reads the whole body: the client's flow control (pausing the socket while unread bytes pile
    # up) must not stall it until the total deadline.
    payload = os.urandom(3 << 20)
    async with Upstream(keep_alive(lambda r: answer(payload))) as upstream:
        start = asyncio.get_running_loop().time()
        response = await fetch(transport, upstream.url())
        assert response.body == payload
        assert elapsed_since(start) < 1.0


async def test_large_request_body_arrives_whole(transport: Transport) -> None:
    async def digest(request: web.Request) -> web.Response:
        return web.Response(text=hashlib.sha256(await request.read()).hexdigest())

    app = web.Application(client_max_size=8 << 20)
    app.router.add_post("/upload", digest)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        payload = os.urandom(2 << 20)
        response = await fetch(transport, f"http://127.0.0.1:{port}/upload", method="POST", body=payload)
        assert response.body.decode() == hashlib.sha256(payload).hexdigest()
    finally:
        await runner.cleanup()


TEXT = b"The gateway decodes what the upstream compressed. " * 400


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", _raw_deflate),
        ("br", brotli.compress),
    ],
    ids=["gzip", "deflate-zlib", "deflate-raw", "br"],
)
async def test_compressed_bodies_are_decoded(
    transport: Transport, encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    seen: list[Seen] = []
    packed = encode(TEXT)
    third = len(packed) // 3

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        while (request := await read_request(reader)) is not None:
            seen.append(request)
            writer.write(
                f"HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            )
            for piece in (packed[:third], packed[third : 2 * third], packed[2 * third :]):
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                await writer.drain()
                await asyncio.sleep(0.005)  # the decoder is fed piece by piece
            writer.write(b"0\r\n\r\n")

    async with Upstream(handler) as upstream:
        assert (await fetch(transport, upstream.url())).body == TEXT
        assert seen[0].headers.getall("Accept-Encoding") == ["gzip, deflate, br"]
        # The stream path decodes too.
        stream = await open_stream(transport, upstream.url())
        try:
            assert await stream.read_all() == TEXT
        finally:
            stream.close()


@pytest.mark.parametrize("encode", [zlib.compress, _raw_deflate], ids=["zlib", "raw"])
def test_deflate_is_told_apart_however_the_body_is_cut(encode: Callable[[bytes], bytes]) -> None:
    packed = encode(TEXT)
    for cut in (1, 2, 3, 64):  # one byte at a time included: the kind is known only after two
        decoder = _decoder("deflate")
        out = b"".join(decoder.decompress(packed[i : i + cut]) for i in range(0, len(packed), cut))
        assert out + decoder.flush() == TEXT


async def test_callers_accept_encoding_is_kept(transport: Transport) -> None:
    seen: list[Seen] = []

    def respond(request: Seen) -> bytes:
        seen.append(request)
        return answer(b"plain")

    async with Upstream(keep_alive(respond)) as upstream:
        response = await fetch(transport, upstream.url(), headers={"accept-encoding": "identity"})
        assert response.body == b"plain"
        assert seen[0].headers.getall("Accept-Encoding") == ["identity"]


async def test_request_head(transport: Transport) -> None:
    seen: list[Seen] = []

    def respond(request: Seen) -> bytes:
        seen.append(request)
        return answer()

    async with Upstream(keep_alive(respond)) as upstream:
        url = upstream.url("/v1/items?z=0")
        await fetch(transport, url, method="POST", body=b'{"k":1}', headers={"X-Test": "v"}, params={"b": "x y"})
        await fetch(transport, url, method="POST")
        await fetch(transport, url, headers={"User-Agent": "mine/1.0"})

        post, empty_post, get = seen
        assert post.method == "POST" and post.body == b'{"k":1}'
        assert post.headers.getall("Host") == [f"127.0.0.1:{upstream.port}"]
        assert post.headers.getall("Content-Length") == ["7"]
        assert post.headers.getall("User-Agent") == ["api-connector"]
        assert post.headers["X-Test"] == "v"
        parts = urlsplit(post.target)
        assert parts.path == "/v1/items" and parse_qs(parts.query) == {"z": ["0"], "b": ["x y"]}
        assert empty_post.headers.getall("Content-Length") == ["0"] and empty_post.body == b""
        assert "Content-Length" not in get.headers
        assert get.headers.getall("User-Agent") == ["mine/1.0"]


@pytest.mark.parametrize(
    "headers",
    [{"X-Bad": "a\r\nInjected: 1"}, {"X-Bad": "a\nb"}, {"X-Bad": "a\rb"}, {"X-Bad\r\nInjected": "1"}],
    ids=["crlf", "lf", "cr", "crlf-in-name"],
)
async def test_header_with_a_line_break_is_refused(transport: Transport, headers: dict[str, str]) -> None:
    async with Upstream(keep_alive(lambda r: answer())) as upstream:
        with pytest.raises(UpstreamError):
            await fetch(transport, upstream.url(), headers=headers)
        await asyncio.sleep(0.05)  # a connection, had one been made, would have been accepted by now
        assert upstream.accepted == 0


async def test_stalled_body_times_out_after_the_read_timeout(transport: Transport) -> None:
    async with Upstream(sends_then_waits(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")) as upstream:
        start = asyncio.get_running_loop().time()
        with pytest.raises(UpstreamTimeout):
            await fetch(transport, upstream.url(), timeouts=Timeouts(connect=1.0, read=0.3, total=3.0))
        assert 0.25 <= elapsed_since(start) < 1.0


async def test_trickling_upstream_is_cut_at_the_total(transport: Transport) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            await asyncio.sleep(0.05)
            writer.write(b"x")
            await writer.drain()

    async with Upstream(handler) as upstream:
        start = asyncio.get_running_loop().time()
        with pytest.raises(UpstreamTimeout):
            await fetch(transport, upstream.url(), timeouts=Timeouts(connect=1.0, read=0.3, total=0.5))
        assert 0.45 <= elapsed_since(start) < 1.0


def _chunked_trickle(parts: int, gap: float) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for number in range(parts):
            await asyncio.sleep(gap)
            writer.write(f"2\r\n{number:02d}\r\n".encode())
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await until_eof(reader)

    return handler


async def test_stream_with_short_gaps_outlives_the_total(transport: Transport) -> None:
    async with Upstream(_chunked_trickle(8, 0.1)) as upstream:
        timeouts = Timeouts(connect=1.0, read=0.3, total=0.3)
        start = asyncio.get_running_loop().time()
        stream = await open_stream(transport, upstream.url(), timeouts)
        try:
            assert await stream.read_all() == b"".join(f"{n:02d}".encode() for n in range(8))
        finally:
            stream.close()
        assert elapsed_since(start) > 0.6  # well past the total: only the gaps were bounded


async def test_stream_gap_beyond_the_read_timeout_times_out(transport: Transport) -> None:
    async with Upstream(_chunked_trickle(3, 0.5)) as upstream:
        timeouts = Timeouts(connect=1.0, read=0.2, total=3.0)
        stream = await open_stream(transport, upstream.url(), timeouts)
        start = asyncio.get_running_loop().time()
        try:
            with pytest.raises(UpstreamTimeout):
                await stream.read_all()
        finally:
            stream.close()
        assert elapsed_since(start) < 0.8  # about the read timeout, far from the total


async def test_connect_timeout_while_the_pool_is_full(transport: Transport) -> None:
    transport.configure_pool("p", max_connections=1)
    first_seen = asyncio.Event()
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        while await read_request(reader) is not None:
            first_seen.set()
            await release.wait()
            writer.write(answer(b"late"))

    async with Upstream(handler) as upstream:
        holder = asyncio.create_task(fetch(transport, upstream.url(), timeouts=Timeouts(1.0, 3.0, 3.0)))
        await asyncio.wait_for(first_seen.wait(), 1.0)
        start = asyncio.get_running_loop().time()
        with pytest.raises(UpstreamTimeout):
            await fetch(transport, upstream.url(), timeouts=Timeouts(connect=0.2, read=3.0, total=3.0))
        assert 0.15 <= elapsed_since(start) < 1.0  # about the connect timeout, far from the total
        release.set()
        assert (await holder).body == b"late"
        assert upstream.accepted == 1


async def test_idle_connection_closed_by_the_server(transport: Transport) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await read_request(reader)
        writer.write(answer(f"conn {index}".encode()))  # kept alive by the headers, closed anyway

    async with Upstream(handler) as upstream:
        assert (await fetch(transport, upstream.url())).body == b"conn 1"
        await asyncio.sleep(0.05)  # the close reaches the idle connection
        assert (await fetch(transport, upstream.url())).body == b"conn 2"


async def test_close_racing_a_reused_connection_is_retried_once(transport: Transport) -> None:
    # The upstream reads the second request on the kept-alive connection and closes without a byte:
    # the close crossed the write, so the request goes again on a new connection.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await read_request(reader)
        writer.write(answer(f"conn {index}".encode()))
        await writer.drain()
        if index == 1:
            await read_request(reader)
        else:
            await until_eof(reader)

    async with Upstream(handler) as upstream:
        assert (await fetch(transport, upstream.url())).body == b"conn 1"
        assert (await fetch(transport, upstream.url())).body == b"conn 2"
        assert upstream.accepted == 2


async def test_fresh_connection_closed_without_an_answer_is_not_retried(transport: Transport) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await read_request(reader)

    async with Upstream(handler) as upstream:
        with pytest.raises(UpstreamProtocolError):
            await fetch(transport, upstream.url())
        assert upstream.accepted == 1


@pytest.mark.parametrize(
    "partial",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n",
    ],
    ids=["content-length", "chunked"],
)
async def test_connection_closed_mid_body(transport: Transport, partial: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await read_request(reader)
        writer.write(partial)

    async with Upstream(handler) as upstream:
        with pytest.raises(UpstreamProtocolError):
            await fetch(transport, upstream.url())
        stream = await open_stream(transport, upstream.url())
        try:
            with pytest.raises(UpstreamProtocolError):
                await stream.read_all()
        finally:
            stream.close()


async def test_connection_limit_holds_under_concurrency(transport: Transport) -> None:
    transport.configure_pool("p", max_connections=2)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        while (request := await read_request(reader)) is not None:
            await asyncio.sleep(0.1)
            writer.write(answer(request.target.encode()))

    async with Upstream(handler) as upstream:
        paths = [f"/{n}" for n in range(6)]
        responses = await asyncio.gather(*(fetch(transport, upstream.url(path)) for path in paths))
        assert [r.body for r in responses] == [p.encode() for p in paths]
        assert upstream.peak <= 2
        assert upstream.accepted == 2  # the waiters were handed the released connections


async def test_stream_chunks_arrive_as_sent(transport: Transport) -> None:
    go = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await go.wait()  # the second chunk exists only once the client has read the first
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await until_eof(reader)

    async with Upstream(handler) as upstream:
        stream = await open_stream(transport, upstream.url())
        chunks = cast(AsyncGenerator[bytes, None], stream.chunks())  # typed as an iterator; closed here
        try:
            assert await anext(chunks) == b"first"
            go.set()
            assert await anext(chunks) == b"second"
            with pytest.raises(StopAsyncIteration):
                await anext(chunks)
        finally:
            await chunks.aclose()
            stream.close()


async def test_stream_closed_early_closes_its_connection(transport: Transport) -> None:
    head_and_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n"
    handler, _, saw_eof = first_dropped_by_client(head_and_chunk, b"after")
    async with Upstream(handler) as upstream:
        stream = await open_stream(transport, upstream.url())
        chunks = cast(AsyncGenerator[bytes, None], stream.chunks())  # typed as an iterator; closed here
        assert await anext(chunks) == b"first"
        await chunks.aclose()
        stream.close()
        await asyncio.wait_for(saw_eof.wait(), 1.0)
        assert (await fetch(transport, upstream.url())).body == b"after"
        assert upstream.accepted == 2


async def test_large_stream_with_a_slow_reader(transport: Transport) -> None:
    payload = os.urandom(5 << 20)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await read_request(reader)
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(payload)}\r\n\r\n".encode())
        for offset in range(0, len(payload), 1 << 16):
            writer.write(payload[offset : offset + (1 << 16)])
            await writer.drain()
        await until_eof(reader)

    async with Upstream(handler) as upstream:
        timeouts = Timeouts(connect=1.0, read=1.0, total=1.0)
        stream = await open_stream(transport, upstream.url(), timeouts)
        received = hashlib.sha256()
        sizes: list[int] = []
        try:
            async for chunk in stream.chunks():
                received.update(chunk)
                sizes.append(len(chunk))
                await asyncio.sleep(0.01)  # slower than the loopback: unread bytes pile up
        finally:
            stream.close()
        assert sum(sizes) == len(payload) and received.digest() == hashlib.sha256(payload).digest()
        # The socket was paused while the reader lagged: what piled up stayed bounded, not the whole body.
        assert max(sizes) < 1 << 20


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_tls(tmp_path: Path, transport: Transport) -> None:
    cert, key = _self_signed(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    trusting = Transport(ssl_context=ssl.create_default_context(cafile=str(cert)))
    try:
        async with Upstream(keep_alive(lambda r: answer(b"secure")), server_context) as upstream:
            for host in ("127.0.0.1", "localhost"):
                response = await fetch(trusting, upstream.url(host=host, scheme="https"))
                assert response.body == b"secure"
            # The default transport trusts the system's roots only: the handshake is refused.
            with pytest.raises(UpstreamConnectError):
                await fetch(transport, upstream.url(scheme="https"))
    finally:
        await trusting.close()


async def test_guarded_pool_refuses_private_addresses() -> None:
    transport = Transport(allow_private=False)
    transport.configure_pool("p", max_connections=4, guarded=True)
    try:
        async with Upstream(keep_alive(lambda r: answer())) as upstream:
            for host in ("127.0.0.1", "localhost"):
                with pytest.raises(UpstreamConnectError):
                    await fetch(transport, upstream.url(host=host))
            await asyncio.sleep(0.05)
            assert upstream.accepted == 0
            # The same upstream through an unguarded pool: the refusal above was the policy's.
            response = await transport.send("operator", "GET", upstream.url(), headers={}, body=None, timeouts=FAST)
            assert response.status == 200 and upstream.accepted == 1
    finally:
        await transport.close()


async def test_head_answer_with_content_length_does_not_hang(transport: Transport) -> None:
    def respond(request: Seen) -> bytes:
        if request.method == "HEAD":
            return b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
        return answer(b"got")

    async with Upstream(keep_alive(respond)) as upstream:
        start = asyncio.get_running_loop().time()
        response = await fetch(transport, upstream.url(), method="HEAD")
        assert (response.status, response.body, response.headers["Content-Length"]) == (200, b"", "1234")
        assert elapsed_since(start) < 0.5
        assert (await fetch(transport, upstream.url())).body == b"got"


async def test_no_content_answer(transport: Transport) -> None:
    def respond(request: Seen) -> bytes:
        return b"HTTP/1.1 204 No Content\r\n\r\n" if request.target == "/empty" else answer(b"full")

    async with Upstream(keep_alive(respond)) as upstream:
        response = await fetch(transport, upstream.url("/empty"))
        assert (response.status, response.body) == (204, b"")
        assert (await fetch(transport, upstream.url("/full"))).body == b"full"
        assert upstream.accepted == 1


async def test_interim_answer_is_skipped(transport: Transport) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        while await read_request(reader) is not None:
            writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)
            writer.write(answer(b"final", headers=[("X-Final", "yes")]))

    async with Upstream(handler) as upstream:
        for _ in range(2):
            response = await fetch(transport, upstream.url())
            assert (response.status, response.body, response.headers["X-Final"]) == (200, b"final", "yes")
            assert "Link" not in response.headers
        assert upstream.accepted == 1


async def test_cancelled_request_closes_its_connection(transport: Transport) -> None:
    handler, waiting, saw_eof = first_dropped_by_client(b"", b"later")  # the first request gets no answer
    async with Upstream(handler) as upstream:
        task = asyncio.create_task(fetch(transport, upstream.url()))
        await asyncio.wait_for(waiting.wait(), 1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(saw_eof.wait(), 1.0)
        assert (await fetch(transport, upstream.url())).body == b"later"
        assert upstream.accepted == 2


async def test_garbage_instead_of_http(transport: Transport) -> None:
    async with Upstream(sends_then_waits(b"SSH-2.0-OpenSSH_9.6\r\n")) as upstream:
        with pytest.raises(UpstreamProtocolError):
            await fetch(transport, upstream.url())


async def test_bytes_after_an_answer_discard_the_connection(transport: Transport) -> None:
    # Bytes nobody asked for make the connection's framing untrustworthy: it must not serve the next request.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        while await read_request(reader) is not None:
            writer.write(answer(f"conn {index}".encode()))
            await writer.drain()
            await asyncio.sleep(0.02)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray")

    async with Upstream(handler) as upstream:
        assert (await fetch(transport, upstream.url())).body == b"conn 1"
        await asyncio.sleep(0.1)
        assert (await fetch(transport, upstream.url())).body == b"conn 2"


@pytest.mark.parametrize(("path", "target"), [
    # Already encoded: sent exactly as written (a SigV4 signature covers the path as it was written).
    ("/model/us.amazon.nova-micro-v1%3A0/converse", "/model/us.amazon.nova-micro-v1%3A0/converse"),
    ("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aprofile%2Fx/converse",
     "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aprofile%2Fx/converse"),
    ("/v1/chat/completions", "/v1/chat/completions"),
    # Not an encoded URL: encoded here, as before.
    ("/a b/é", "/a%20b/%C3%A9"),
    ("/a%zz", "/a%25zz"),
])
async def test_an_encoded_path_is_sent_as_written(transport: Transport, path: str, target: str) -> None:
    async with Upstream(keep_alive(lambda r: answer(r.target.encode()))) as upstream:
        response = await fetch(transport, upstream.url(path), params={"q": "1"})
    assert response.body == f"{target}?q=1".encode()
