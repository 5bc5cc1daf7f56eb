"""The AWS event stream (``application/vnd.amazon.eventstream``): binary framing of streamed AWS answers.

Each message is a 12-byte prelude (total length, headers length, both big-endian uint32, then the CRC32
of those eight bytes), the headers, the payload, and the CRC32 of everything before it. A header is a
one-byte name length, the name, a one-byte value type and the value; the message's kind is in its
``:message-type`` header (``event``, ``exception`` or ``error``) and its name in ``:event-type``,
``:exception-type`` or ``:error-code``. The decoder takes bytes cut anywhere (network reads) and gives
each message once it is whole, after checking both CRCs; anything that is not this framing raises
``EventStreamError``. Pure: no I/O.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from api_connector.wire.base import StreamFramingError

_PRELUDE = struct.Struct(">III")
_PRELUDE_LENGTH = 12
_CRC_LENGTH = 4
_MIN_MESSAGE = _PRELUDE_LENGTH + _CRC_LENGTH
# The framing's own limits: a message is at most 16 MiB, its headers at most 128 KiB.
MAX_MESSAGE = 16 * 1024 * 1024
MAX_HEADERS = 128 * 1024

HeaderValue = bool | int | bytes | str | uuid.UUID

# Header value types; the integers' layouts (byte arrays and strings have a two-byte length first).
_BOOL_TRUE, _BOOL_FALSE, _BYTE, _SHORT, _INT, _LONG, _BYTES, _STRING, _TIMESTAMP, _UUID = range(10)
_FIXED = {kind: struct.Struct(layout) for kind, layout in ((_BYTE, ">b"), (_SHORT, ">h"), (_INT, ">i"), (_LONG, ">q"))}
_LENGTH = struct.Struct(">H")


class EventStreamError(StreamFramingError):
    """Bytes that are not a well-formed event stream (bad CRC, impossible lengths, unknown types)."""


@dataclass(frozen=True, slots=True)
class Message:
    headers: Mapping[str, HeaderValue]
    payload: bytes

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value if isinstance(value, str) else None

    @property
    def message_type(self) -> str:
        return self.header(":message-type") or "event"


class EventStreamDecoder:
    """Feed it the body's bytes as they arrive; it returns the messages each read completes."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    @property
    def pending(self) -> int:
        """Bytes of a message not complete yet (non-zero when a stream ends: it was cut short)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Message]:
        buffer = self._buffer + data if self._buffer else data
        messages: list[Message] = []
        start = 0
        end = len(buffer)
        while end - start >= _PRELUDE_LENGTH:
            total, headers_length, prelude_crc = _PRELUDE.unpack_from(buffer, start)
            # The prelude is checked before its lengths are trusted: a corrupt length must not make the
            # decoder wait for megabytes that never come.
            if zlib.crc32(buffer[start : start + 8]) != prelude_crc:
                raise EventStreamError("event stream prelude CRC mismatch")
            if not _MIN_MESSAGE <= total <= MAX_MESSAGE or headers_length > min(MAX_HEADERS, total - _MIN_MESSAGE):
                raise EventStreamError(f"event stream message of impossible length ({total}, {headers_length})")
            if end - start < total:
                break
            message = buffer[start : start + total]
            (message_crc,) = struct.unpack_from(">I", message, total - _CRC_LENGTH)
            if zlib.crc32(message[: total - _CRC_LENGTH]) != message_crc:
                raise EventStreamError("event stream message CRC mismatch")
            headers_end = _PRELUDE_LENGTH + headers_length
            headers = _headers(message[_PRELUDE_LENGTH:headers_end])
            messages.append(Message(headers, message[headers_end : total - _CRC_LENGTH]))
            start += total
        self._buffer = buffer[start:]
        return messages


def _headers(raw: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    at, end = 0, len(raw)
    try:
        while at < end:
            name_length = raw[at]
            name = raw[at + 1 : at + 1 + name_length].decode("utf-8")
            at += 1 + name_length
            kind = raw[at]
            at += 1
            value, at = _value(raw, at, kind)
            if at > end:
                raise EventStreamError("event stream header runs past the headers")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError):
        raise EventStreamError("event stream headers are malformed") from None
    return headers


def _value(raw: bytes, at: int, kind: int) -> tuple[HeaderValue, int]:
    if kind == _BOOL_TRUE:
        return True, at
    if kind == _BOOL_FALSE:
        return False, at
    fixed = _FIXED.get(kind)
    if fixed is not None:
        return fixed.unpack_from(raw, at)[0], at + fixed.size
    if kind in (_BYTES, _STRING):
        (length,) = _LENGTH.unpack_from(raw, at)
        value = raw[at + 2 : at + 2 + length]
        if len(value) != length:
            raise EventStreamError("event stream header value runs past the headers")
        return (value.decode("utf-8") if kind == _STRING else value), at + 2 + length
    if kind == _TIMESTAMP:  # milliseconds since the epoch
        return _FIXED[_LONG].unpack_from(raw, at)[0], at + 8
    if kind == _UUID:
        value = raw[at : at + 16]
        if len(value) != 16:
            raise EventStreamError("event stream header value runs past the headers")
        return uuid.UUID(bytes=value), at + 16
    raise EventStreamError(f"event stream header of unknown type {kind}")


def encode_message(headers: Mapping[str, str | bytes | bool], payload: bytes) -> bytes:
    """One message with string, byte-array and boolean headers (what replays and tests need)."""
    parts: list[bytes] = []
    for name, value in headers.items():
        raw_name = name.encode("utf-8")
        parts.append(bytes([len(raw_name)]) + raw_name)
        if isinstance(value, bool):
            parts.append(bytes([_BOOL_TRUE if value else _BOOL_FALSE]))
        else:
            raw = value.encode("utf-8") if isinstance(value, str) else value
            parts.append(bytes([_STRING if isinstance(value, str) else _BYTES]) + _LENGTH.pack(len(raw)) + raw)
    encoded_headers = b"".join(parts)
    total = _MIN_MESSAGE + len(encoded_headers) + len(payload)
    prelude = struct.pack(">II", total, len(encoded_headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded_headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def encode_event(event_type: str, payload: bytes) -> bytes:
    """An ``event`` message as AWS streams them: JSON payload, named by ``:event-type``."""
    return encode_message(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}, payload
    )


def encode_exception(exception_type: str, payload: bytes) -> bytes:
    """An ``exception`` message (an error inside a stream), named by ``:exception-type``."""
    return encode_message(
        {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"},
        payload,
    )
