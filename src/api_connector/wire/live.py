"""What a live-transcription wire is: a pure codec between the gateway's session and a vendor's
streaming socket (the URL query that opens it, the text frames that steer it, the messages it sends
back, and what its close codes mean). No I/O, no secrets.

Every vendor message is read into one gateway shape (``LiveMessage.body``), documented with the route
(``api/live_routes.py``): ``transcript`` (interim or final), ``speech_started``, ``utterance_end``,
``metadata``; the vendor's own message rides along under ``native`` when the caller asks for it.

Vendors differ in what they can be asked and what they say unasked: a control a vendor has no message
for is not sent (``control`` gives None), and a message is read knowing the session's parameters (a
vendor that always sends interim results has them dropped when the caller asked for none). One vendor
message may stand for several gateway messages (a turn's final transcript and its end): ``after``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from api_connector.core.live import Control, LiveParams
from api_connector.wire.base import VendorError, Wire


@dataclass(frozen=True, slots=True)
class LiveMessage:
    """One vendor message, read."""

    body: dict[str, Any] | None  # the gateway's message; None: nothing the caller is shown
    transcript: bool = False  # a transcript (interim or final): the first one ends failover
    duration: float | None = None  # seconds of audio the vendor says it received (its billing basis)
    error: VendorError | None = None  # the vendor reports a failure in the stream
    after: tuple[dict[str, Any], ...] = ()  # gateway messages the same vendor message also stands for


class LiveWire(Wire, Protocol):
    def query(self, params: LiveParams, upstream_model: str) -> dict[str, str]:
        """The socket URL's query for a session with ``params`` (refuses what the vendor cannot do
        with ``ValidationFailed`` naming the parameter)."""
        ...

    def control(self, control: Control) -> str | None:
        """The text frame that asks the vendor for ``control``; None when the vendor needs none (its
        session stays open without a keep-alive): nothing is sent."""
        ...

    def decode(self, text: str, params: LiveParams) -> LiveMessage:
        """One text message of the vendor's in a session with ``params`` (ValueError when it is not one)."""
        ...

    def close_failure(self, code: int, reason: str) -> VendorError | None:
        """What the vendor closing with ``code`` means: None for a clean end, else its failure."""
        ...
