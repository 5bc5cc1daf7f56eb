"""Redaction by value: every secret the service knows is scrubbed from text before it leaves.

Patterns catch what looks like a key (``Bearer ...``, ``sk-...``, ``ack_...``) even when the service
never saw the value; exact values catch secrets of any shape (a password, a service-account JSON field).
"""

from __future__ import annotations

import re

MASK = "[REDACTED]"
_MASK_BYTES = MASK.encode()
_MIN_SECRET = 6  # shorter values would scrub ordinary words
_PATTERNS = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|\b(sk|pk|rk|ack|gsk|xox[abpr])[-_][A-Za-z0-9_-]{8,}"
)


class Redactor:
    __slots__ = ("_byte_pattern", "_byte_secrets", "_pattern", "_secrets", "longest")

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._byte_secrets: tuple[bytes, ...] = ()
        self._pattern: re.Pattern[str] | None = None
        self._byte_pattern: re.Pattern[bytes] | None = None
        self.longest = 0  # bytes of the longest known secret (how much a stream must hold back)

    def add(self, secret: str) -> None:
        if len(secret) >= _MIN_SECRET and secret not in self._secrets:
            self._secrets.add(secret)
            # Longest first so a secret containing another is masked whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))
            self._byte_secrets = tuple(s.encode("utf-8") for s in ordered)
            self._byte_pattern = re.compile(b"|".join(re.escape(s) for s in self._byte_secrets))
            self.longest = len(self._byte_secrets[0])

    def scrub(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return _PATTERNS.sub(_mask_pattern, text)

    def scrub_body(self, body: bytes) -> bytes:
        """Known secret values out of a response body (no pattern guessing: answers may quote keys).

        The common case, no secret in the body, costs one substring search per known secret: ``find``,
        as ``in`` on bytes first tries the needle as an integer and pays for a discarded TypeError.
        """
        for secret in self._byte_secrets:
            if body.find(secret) != -1:
                # Masked in the bytes themselves: a body that is not UTF-8 keeps every other byte.
                assert self._byte_pattern is not None
                return self._byte_pattern.sub(_MASK_BYTES, body)
        return body

    def occurrences(self, data: bytes) -> list[tuple[int, int]]:
        """Where known secrets stand in ``data``: (start, end) of each, leftmost-longest, in order."""
        if self._byte_pattern is None:
            return []
        return [match.span() for match in self._byte_pattern.finditer(data)]

    def stream(self) -> StreamScrubber:
        """A scrubber for one streamed body, whose reads may cut a secret in two."""
        return StreamScrubber(self)

    def scrub_values(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern is not None else text

    def __contains__(self, secret: str) -> bool:
        return secret in self._secrets


def _mask_pattern(match: re.Match[str]) -> str:
    prefix = match.group(1)
    return f"{prefix}{MASK}" if prefix else MASK


class StreamScrubber:
    """Masks known secrets in a body that arrives in pieces, whatever the piece boundaries.

    Each read is joined to what was held back, and everything is passed on but the last
    ``longest - 1`` bytes: a secret whose first part arrived in this read but whose rest has not is
    still held, so it is masked whole once it completes. The cut never falls inside a secret that is
    already complete (it moves to that secret's end). ``flush`` gives what is held when the body ends.
    Secrets learnt while the stream runs are honoured from the next read.
    """

    __slots__ = ("_held", "_redactor")

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        redactor = self._redactor
        keep = redactor.longest - 1
        if keep <= 0:
            return chunk
        data = self._held + chunk if self._held else chunk
        cut = len(data) - keep
        if cut <= 0:
            self._held = data
            return b""
        spans = redactor.occurrences(data)
        for start, end in spans:
            if start < cut < end:
                cut = end  # a complete secret across the cut goes out whole (masked)
        self._held = data[cut:]
        if not spans:
            return data[:cut]
        return redactor.scrub_body(data[:cut])

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return self._redactor.scrub_body(held) if held else b""
