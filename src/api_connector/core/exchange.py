"""One upstream request and its answer, as wires shape them and the transport carries them.

A wire builds the ``Outbound`` (path below the instance's base URL, body, the headers the shape needs);
the attempt adds the provider's own headers and the credential, never the wire. An ``Inbound`` is a
whole answer; streamed answers are read through the transport's stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(slots=True)
class Outbound:
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    query: Mapping[str, str] | None = None


@dataclass(slots=True)
class Inbound:
    status: int
    headers: Mapping[str, str]
    body: bytes
