"""One upstream request and its answer, as wires shape them and the transport carries them.

A wire builds the ``Outbound`` (path below the instance's base URL, body, the headers the shape needs);
the attempt adds the provider's own headers and the credential, never the wire. An ``Inbound`` is a
whole answer; streamed answers are read through the transport's stream. A request that a vendor's own
answer pointed to (a job's status or stream URL) gives that absolute ``url`` instead of a path.

A body is bytes, or a ``BodyStream`` (an uploaded audio file, a multipart form around it): its size is
known before it is sent (``Content-Length``) and it is read in pieces each time it is sent, so a retry
or a failover sends it again without the gateway ever holding it whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@runtime_checkable
class BodyStream(Protocol):
    """A request body sent in pieces; ``chunks()`` starts again from its first byte on every call."""

    @property
    def size(self) -> int: ...

    def chunks(self) -> AsyncIterator[bytes]: ...


async def read_whole(body: bytes | BodyStream | None) -> bytes:
    """A body as one buffer (an in-process upstream takes it so; it is bounded where it was accepted)."""
    if body is None or isinstance(body, bytes):
        return body or b""
    return b"".join([chunk async for chunk in body.chunks()])


@dataclass(slots=True)
class Outbound:
    path: str
    body: bytes | BodyStream | None = None
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    query: Mapping[str, str] | None = None
    # An absolute URL from the vendor's answer, sent instead of base URL + path; the attempt sends it
    # only to the provider's own origins (``ProviderSpec.linked_origins``).
    url: str | None = None


@dataclass(slots=True)
class Inbound:
    status: int
    headers: Mapping[str, str]
    body: bytes
