"""One upstream request and its answer, as wires shape them and the transport carries them.

A wire builds the ``Outbound`` (path below the instance's base URL, body, the headers the shape needs);
the attempt adds the provider's own headers and the credential, never the wire. An ``Inbound`` is a
whole answer; streamed answers are read through the transport's stream. A request that a vendor's own
answer pointed to (a job's status or stream URL) gives that absolute ``url`` instead of a path.
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
    # An absolute URL from the vendor's answer, sent instead of base URL + path; the attempt sends it
    # only to the provider's own origins (``ProviderSpec.linked_origins``).
    url: str | None = None


@dataclass(slots=True)
class Inbound:
    status: int
    headers: Mapping[str, str]
    body: bytes
