"""Server-sent events: an incremental parser for upstream streams and an encoder for ours.

The parser works on bytes and keeps each event's data as bytes: most events are forwarded or parsed
as JSON straight from bytes, so decoding every line to text would be work thrown away.
"""

from __future__ import annotations


class SSEEvent:
    __slots__ = ("event", "id", "raw")

    def __init__(self, data: str | bytes = b"", event: str | None = None, id: str | None = None) -> None:
        self.raw = data.encode("utf-8") if isinstance(data, str) else data
        self.event = event
        self.id = id

    @property
    def data(self) -> str:
        return self.raw.decode("utf-8", "replace")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SSEEvent):
            return NotImplemented
        return (self.raw, self.event, self.id) == (other.raw, other.event, other.id)

    def __repr__(self) -> str:
        return f"SSEEvent(data={self.data!r}, event={self.event!r}, id={self.id!r})"


class SSEParser:
    """Feed it lines (with or without their line ending); it returns each event once it is complete."""

    __slots__ = ("_data", "_event", "_id")

    def __init__(self) -> None:
        self._data: list[bytes] = []
        self._event: str | None = None
        self._id: str | None = None

    def feed_line(self, raw: bytes | str) -> SSEEvent | None:
        line = raw.encode("utf-8") if isinstance(raw, str) else raw
        line = line.rstrip(b"\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(b"data:"):
            # The common case first: one space after the colon is part of the syntax, not the value.
            self._data.append(line[6:] if line.startswith(b"data: ") else line[5:])
            return None
        if line.startswith(b":"):
            return None
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            self._id = value.decode("utf-8", "replace")
        return None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse a whole chunk of text that may hold several lines (used on recorded bodies)."""
        events = []
        for line in chunk.splitlines():
            event = self.feed_line(line)
            if event is not None:
                events.append(event)
        return events

    @property
    def idle(self) -> bool:
        """No event is half read: the next line starts a new one."""
        return not self._data and self._event is None and self._id is None

    def close(self) -> SSEEvent | None:
        """End of stream: an event without its trailing blank line still counts."""
        return self._dispatch()

    def _dispatch(self) -> SSEEvent | None:
        if not self._data and self._event is None:
            return None
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        event = SSEEvent(data, self._event, self._id)
        self._data, self._event, self._id = [], None, None
        return event


DONE_FRAME = b"data: [DONE]\n\n"
_SEPARATOR = b"\n\ndata: "


def data_payloads(buffer: bytes) -> list[bytes] | None:
    """The payloads of ``buffer`` if it is whole events that are each one ``data: `` line; else None.

    That is how OpenAI and nearly every compatible vendor write their streams. Splitting the whole
    read at the separators runs in C, where the line parser costs two Python calls per event.
    Anything else (comments, ``event:`` or ``id:`` fields, CR endings, several data lines, an event
    not finished in this read) answers None and is left to ``SSEParser``, which reads the same
    events from what this accepts.
    """
    # find, not ``in``: ``in`` on bytes first tries its operand as an integer and pays for the error.
    if not buffer.startswith(b"data: ") or not buffer.endswith(b"\n\n") or buffer.find(b"\r") >= 0:
        return None
    # Split whole, then trim the first and last payloads: slicing the buffer first copied all of it.
    payloads = buffer.split(_SEPARATOR)
    payloads[0] = payloads[0][6:]
    payloads[-1] = payloads[-1][:-2]
    # A newline left inside a payload means some event was not one data line and a blank line.
    if b"".join(payloads).find(b"\n") >= 0:
        return None
    return payloads


def frame(payload: bytes) -> bytes:
    """One ``data:`` frame around a JSON payload (which never holds a raw newline)."""
    return b"data: " + payload + b"\n\n"


def frames(payloads: list[bytes]) -> bytes:
    """Several payloads framed in one buffer (one join, not one concatenation per payload)."""
    if not payloads:
        return b""
    return b"data: " + b"\n\ndata: ".join(payloads) + b"\n\n"
