"""In-process upstreams: a provider answered inside this process (the sandbox) instead of over a socket.

They see the same method, path, headers and body a network upstream would, and fail the same ways,
so every layer above the transport treats them alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol


class LocalDisconnect(Exception):
    """The simulated server dropped the connection (before answering, or in the middle of a body)."""


@dataclass(slots=True)
class LocalResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # A streamed body, line by line (each line with its ending); ``body`` is ignored when set.
    lines: AsyncIterator[bytes] | None = None


class LocalUpstream(Protocol):
    async def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> LocalResponse: ...
