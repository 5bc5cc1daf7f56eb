"""Server-sent events: an incremental parser for upstream streams and an encoder for ours."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    data: str
    event: str | None = None
    id: str | None = None


class SSEParser:
    """Feed it lines (with or without their line ending); it returns each event once it is complete."""

    __slots__ = ("_data", "_event", "_id")

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None

    def feed_line(self, raw: bytes | str) -> SSEEvent | None:
        line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse a whole chunk of text that may hold several lines (used on recorded bodies)."""
        events = []
        for line in chunk.decode("utf-8").splitlines():
            event = self.feed_line(line)
            if event is not None:
                events.append(event)
        return events

    def close(self) -> SSEEvent | None:
        """End of stream: an event without its trailing blank line still counts."""
        return self._dispatch()

    def _dispatch(self) -> SSEEvent | None:
        if not self._data and self._event is None:
            return None
        event = SSEEvent(data="\n".join(self._data), event=self._event, id=self._id)
        self._data, self._event, self._id = [], None, None
        return event


DONE_FRAME = b"data: [DONE]\n\n"


def frame(payload: bytes) -> bytes:
    """One ``data:`` frame around a JSON payload (which never holds a raw newline)."""
    return b"data: " + payload + b"\n\n"
