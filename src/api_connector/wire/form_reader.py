"""``multipart/form-data`` read as it arrives: bytes in, the form's parts out as events (no I/O here).

Why not aiohttp's multipart reader: it copies every byte of a part twice over (each piece is glued to
the one before it to look for the boundary across their seam) and reads a text field by pulling a
quarter of a megabyte of the file behind it and pushing it back; on a 1 MB upload that was a third of
the gateway's CPU for the request. Here each piece of a part's body is handed on as the piece the
socket gave, uncopied: a piece is passed on once the next one shows that no boundary starts in its
last bytes, and only the bytes around the seam are ever joined. So at most one piece is held back.

The boundary is the delimiter ``CRLF--boundary`` (the body is read as if a CRLF came first, so the
opening delimiter needs none); after it, ``--`` closes the form and anything else must reach a CRLF
and the part's headers, which end at an empty line. The preamble and the epilogue are ignored, as
RFC 2046 says. A form that breaks these rules raises ``ValueError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp.multipart import content_disposition_filename, parse_content_disposition
from multidict import CIMultiDict

_MAX_HEAD = 16 * 1024  # a part's headers, and the preamble before the first boundary
_MAX_BOUNDARY = 70  # RFC 2046


@dataclass(frozen=True, slots=True)
class PartStart:
    """A part's headers were read: its body follows as ``PartData`` events, then ``PartEnd``."""

    name: str | None
    filename: str | None
    content_type: str


@dataclass(frozen=True, slots=True)
class PartData:
    data: bytes


class PartEnd:
    """The current part's body is complete."""


PART_END = PartEnd()
Event = PartStart | PartData | PartEnd

_PREAMBLE, _AFTER_DELIMITER, _HEADERS, _BODY, _DONE = range(5)


class FormReader:
    """Feed it the request body's pieces in order; each ``feed`` returns the events they complete."""

    __slots__ = ("_buffer", "_delimiter", "_pending", "_started", "_state")

    def __init__(self, boundary: str) -> None:
        if not boundary or len(boundary) > _MAX_BOUNDARY:
            raise ValueError("the multipart boundary is missing or longer than 70 characters")
        self._delimiter = b"\r\n--" + boundary.encode("latin-1")
        self._state = _PREAMBLE
        self._started = False  # a byte of the body was read (the opening delimiter needs no CRLF)
        self._buffer = b""  # framing bytes not yet parsed (only when a piece ended inside them)
        self._pending = b""  # a part's body not yet handed on: no delimiter lies wholly inside it

    @property
    def done(self) -> bool:
        """The closing delimiter was read (what follows it is the epilogue, ignored)."""
        return self._state == _DONE

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        if self._buffer:
            data, self._buffer = self._buffer + data, b""
        at = 0 if self._started else self._open(data)
        # Positions, not slices, walk the piece: a slice would copy the rest of it at every step.
        while at < len(data) and self._state != _DONE:
            step = self._body if self._state == _BODY else self._framing
            at = step(data, at, events)
        return events

    def close(self) -> None:
        """The body ended: it must have closed the form."""
        if self._state != _DONE:
            raise ValueError("the form ends before its closing boundary")

    def _open(self, data: bytes) -> int:
        """Where parsing starts in the body's first bytes: after the opening delimiter, which needs no
        CRLF before it; or at 0, in a preamble that ends at a CRLF and the delimiter."""
        opening = self._delimiter[2:]
        if data.startswith(opening):
            self._started, self._state = True, _AFTER_DELIMITER
            return len(opening)
        if len(data) < len(opening) and opening.startswith(data):  # too few bytes to tell yet
            self._buffer = data
            return len(data)
        self._started = True
        return 0

    # -- outside a part's body -----------------------------------------------------------------------------
    def _framing(self, data: bytes, at: int, events: list[Event]) -> int:
        """Parse from ``at``; where the piece ends first, what is left is kept for the next one."""
        state = self._state
        if state == _PREAMBLE:
            found = data.find(self._delimiter, at)
            if found < 0:  # only the bytes a delimiter may start in are kept
                self._buffer = data[max(at, len(data) - len(self._delimiter)) :]
                return len(data)
            self._state = _AFTER_DELIMITER
            return found + len(self._delimiter)
        if state == _AFTER_DELIMITER:
            if data.startswith(b"--", at):
                self._state = _DONE
                return len(data)
            end = data.find(b"\r\n", at)
            if end < 0:
                return self._keep(data, at, "a delimiter's line")
            if data[at:end].strip(b" \t"):
                raise ValueError("a boundary line carries more than the boundary")
            self._state = _HEADERS
            return end + 2
        # _HEADERS: up to an empty line (at once when the part has no headers)
        end = at - 2 if data.startswith(b"\r\n", at) else data.find(b"\r\n\r\n", at)
        if end == -1 or end - at > _MAX_HEAD:
            return self._keep(data, at, "a part's headers")
        events.append(_part_start(data[at:end] if end > at else b""))
        self._state = _BODY
        return end + 4

    def _keep(self, data: bytes, at: int, what: str) -> int:
        if len(data) - at > _MAX_HEAD:
            raise ValueError(f"{what} is longer than {_MAX_HEAD} bytes")
        self._buffer = data[at:]
        return len(data)

    # -- a part's body: pieces passed on as they came ---------------------------------------------------
    def _body(self, data: bytes, at: int, events: list[Event]) -> int:
        delimiter, pending = self._delimiter, self._pending
        size = len(delimiter)
        if len(data) - at < size:
            # Too short to tell whether a delimiter ends in it: kept with the held-back bytes' tail.
            if len(pending) > size:
                events.append(PartData(pending[:-size]))
                pending = pending[-size:]
            joined = pending + data[at:]
            found = joined.find(delimiter)
            if found < 0:
                self._pending = joined
                return len(data)
            self._end(joined[:found], events)
            return len(data) - (len(joined) - found - size)
        if pending:
            # A delimiter that starts in the held-back bytes ends within the next size-1 bytes.
            seam = min(len(pending), size - 1)
            found = (pending[-seam:] + data[at : at + size - 1]).find(delimiter)
            if 0 <= found < seam:
                self._end(pending[: len(pending) - seam + found], events)
                return at + size - seam + found
            events.append(PartData(pending))
        found = data.find(delimiter, at)
        if found < 0:
            self._pending = data[at:] if at else data
            return len(data)
        self._end(data[at:found], events)
        return found + size

    def _end(self, last: bytes, events: list[Event]) -> None:
        if last:
            events.append(PartData(last))
        events.append(PART_END)
        self._pending = b""
        self._state = _AFTER_DELIMITER


def _part_start(head: bytes) -> PartStart:
    headers: CIMultiDict[str] = CIMultiDict()
    for line in head.decode("utf-8", "replace").split("\r\n") if head else ():
        field, colon, value = line.partition(":")
        if not colon or not field or field != field.strip():
            raise ValueError("a part's header line is not 'Name: value'")
        headers.add(field, value.strip(" \t"))
    name, filename = _names(headers.get("Content-Disposition"))
    return PartStart(name, filename, headers.get("Content-Type", ""))


# One parameter of a plain Content-Disposition: a token, or a quoted string without escapes.
_PARAM = re.compile(r'\s*;\s*([!#$%&\'+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"([^"\\]*)"|([!#$%&\'+.^_`|~0-9A-Za-z-]+))\s*')


def _names(header: str | None) -> tuple[str | None, str | None]:
    """The part's name and file name. The plain header every client sends (``form-data; name="file";
    filename="a.wav"``) is read here at once; anything else (escapes, RFC 5987 ``filename*``, broken
    syntax) is left to aiohttp's parser, which costs tens of microseconds a call."""
    if header and "*" not in header:
        kind, _, _ = header.partition(";")
        params: dict[str, str] = {}
        at = len(kind)
        while (match := _PARAM.match(header, at)) is not None:
            key, quoted, token = match.groups()
            params[key.lower()] = token if quoted is None else quoted
            at = match.end()
        if at == len(header) and kind.strip() and " " not in kind.strip():
            return params.get("name"), params.get("filename")
    _, params = parse_content_disposition(header)
    return content_disposition_filename(params, "name"), content_disposition_filename(params, "filename")
